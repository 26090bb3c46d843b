package savedmodel

import (
	"fmt"
	"strconv"
	"strings"

	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	corepb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
)

// VariableKeys maps the main graph's variable-handle nodes (VarHandleOp,
// VariableV2, Variable) to their checkpoint keys by following the restore
// graph: every AssignVariableOp (resource variables) or Assign (TF1 ref
// variables) whose value comes, through Identity nodes, from an output of
// RestoreV2 binds the handle it assigns to the key at that position of
// RestoreV2's tensor_names constant. Handles are followed through function
// calls (StatefulPartitionedCall, PartitionedCall, function-name ops) to any
// depth, so this covers TF1 graphs (saver ops in the main graph), TF2 Keras
// saves (a restore function called from the main graph) and Keras 3
// exports alike. Checkpoint keys never equal handle names, so there is no
// fallback by name.
func VariableKeys(mg *corepb.MetaGraphDef) (map[string]string, error) {
	w := &varWalker{
		funcs: map[string]*fnpb.FunctionDef{},
		out:   map[string]string{},
	}
	for _, f := range mg.GetGraphDef().GetLibrary().GetFunction() {
		w.funcs[f.GetSignature().GetName()] = f
	}
	main := newVarScope(nil, mg.GetGraphDef().GetNode(), nil)
	if err := w.walk(main, 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

// A varValue is what the walker knows about a tensor: the main-graph
// variable handle it is, or the checkpoint key it was restored from.
type varValue struct {
	handle string
	key    string
}

type varScope struct {
	fn    *fnpb.FunctionDef // nil for the main graph
	nodes map[string]*nodepb.NodeDef
	order []*nodepb.NodeDef
	args  map[string]varValue
	memo  map[string]varValue
	stack []string
}

func newVarScope(fn *fnpb.FunctionDef, nodes []*nodepb.NodeDef, args map[string]varValue) *varScope {
	s := &varScope{fn: fn, nodes: map[string]*nodepb.NodeDef{}, order: nodes, args: args, memo: map[string]varValue{}}
	for _, n := range nodes {
		s.nodes[n.GetName()] = n
	}
	return s
}

type varWalker struct {
	funcs map[string]*fnpb.FunctionDef
	out   map[string]string
}

const (
	maxCallDepth = 64
	maxHops      = 256
)

func (w *varWalker) where(s *varScope) string {
	if s.fn == nil {
		return "main graph"
	}
	return "function " + s.fn.GetSignature().GetName()
}

// walk scans the nodes of scope s for assignments and calls.
func (w *varWalker) walk(s *varScope, depth int) error {
	if depth > maxCallDepth {
		return fmt.Errorf("variable map: %s: function calls nested deeper than %d", w.where(s), maxCallDepth)
	}
	for _, n := range s.order {
		switch n.GetOp() {
		case "AssignVariableOp", "Assign":
			ins := dataInputs(n)
			if len(ins) < 2 {
				continue
			}
			h := w.value(s, ins[0], 0)
			k := w.value(s, ins[1], 0)
			if h.handle == "" || k.key == "" {
				continue
			}
			if old, ok := w.out[h.handle]; ok && old != k.key {
				return fmt.Errorf("variable map: %s: node %q restores variable %q from %q, but it is also restored from %q", w.where(s), n.GetName(), h.handle, k.key, old)
			}
			w.out[h.handle] = k.key
			continue
		}
		fname := ""
		switch n.GetOp() {
		case "StatefulPartitionedCall", "PartitionedCall":
			fname = n.GetAttr()["f"].GetFunc().GetName()
		default:
			if _, ok := w.funcs[n.GetOp()]; ok {
				fname = n.GetOp()
			}
		}
		fn := w.funcs[fname]
		if fn == nil {
			continue
		}
		if containsString(s.stack, fname) {
			return fmt.Errorf("variable map: %s: node %q: function %q calls itself recursively", w.where(s), n.GetName(), fname)
		}
		args := map[string]varValue{}
		useful := false
		ins := dataInputs(n)
		for i, a := range fn.GetSignature().GetInputArg() {
			if i >= len(ins) {
				break
			}
			v := w.value(s, ins[i], 0)
			if v != (varValue{}) {
				args[a.GetName()] = v
				useful = true
			}
		}
		if !useful {
			continue
		}
		child := newVarScope(fn, fn.GetNodeDef(), args)
		child.stack = append(append([]string(nil), s.stack...), fname)
		if err := w.walk(child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func containsString(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func dataInputs(n *nodepb.NodeDef) []string {
	var out []string
	for _, in := range n.GetInput() {
		if !strings.HasPrefix(in, "^") {
			out = append(out, in)
		}
	}
	return out
}

// ref splits a reference into node name and flat output index; in
// function bodies "node:tensors:i" counts as index i of a single list
// output (RestoreV2), and a bare name is an input arg.
func (s *varScope) ref(r string) (node string, idx int, isArg bool) {
	parts := strings.Split(r, ":")
	if s.fn != nil && len(parts) == 1 {
		if _, ok := s.args[r]; ok {
			return r, 0, true
		}
	}
	if len(parts) > 1 {
		if i, err := strconv.Atoi(parts[len(parts)-1]); err == nil {
			idx = i
		}
	}
	return parts[0], idx, false
}

// value follows ref through Identity nodes to a variable handle or a
// restored checkpoint key.
func (w *varWalker) value(s *varScope, r string, hops int) varValue {
	if hops > maxHops {
		return varValue{}
	}
	if v, ok := s.memo[r]; ok {
		return v
	}
	s.memo[r] = varValue{} // guards against cycles
	name, idx, isArg := s.ref(r)
	var v varValue
	switch {
	case isArg:
		v = s.args[name]
	default:
		n := s.nodes[name]
		if n == nil {
			break
		}
		switch n.GetOp() {
		case "Identity", "Snapshot":
			if ins := dataInputs(n); len(ins) > 0 {
				v = w.value(s, ins[0], hops+1)
			}
		case "VarHandleOp", "VariableV2", "Variable":
			if s.fn == nil {
				v.handle = name
			}
		case "RestoreV2":
			// The list output "tensors" is the only output, so the
			// index within it is the flat index.
			if strings.Count(r, ":") == 2 && strings.Split(r, ":")[1] != "tensors" {
				break
			}
			ins := dataInputs(n)
			if len(ins) < 2 {
				break
			}
			cname, _, _ := s.ref(ins[1])
			c := s.nodes[cname]
			if c == nil || c.GetOp() != "Const" {
				break
			}
			names := c.GetAttr()["value"].GetTensor().GetStringVal()
			if idx >= 0 && idx < len(names) {
				v.key = string(names[idx])
			}
		}
	}
	s.memo[r] = v
	return v
}
