package graph

import (
	"fmt"
	"strconv"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	opdefpb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// BuildOptions configures FromGraphDef. Outputs is required; the zero value
// of every other field is a sensible default.
type BuildOptions struct {
	// Outputs are the tensor names of the main graph ("node" or "node:i")
	// to compute. Only what they need is kept.
	Outputs []string
	// Feeds are main-graph tensor names that will be fed. Their nodes keep
	// their op and attributes but lose their inputs, so pruning stops
	// there.
	Feeds []string
	// Variable, when set, is called for each variable-handle node
	// (VarHandleOp, VariableV2, Variable) of the main graph that survives
	// pruning, so the caller can bind its Value and VarKey. An error aborts
	// the build.
	Variable func(handle *Node) error
	// OpDefs are extra op definitions, typically the graph's
	// meta_info_def.stripped_op_list. They are used for ops missing from
	// the built-in table and for default attributes the table lacks.
	OpDefs []*opdefpb.OpDef
	// MaxNodes bounds the size of the inlined graph; 0 means 1<<20.
	MaxNodes int
}

const (
	defaultMaxNodes = 1 << 20
	// maxDepth bounds the dependency depth walked recursively, so that a
	// malformed (or adversarial) graph cannot exhaust the stack.
	maxDepth = 1 << 15
	// maxSplat bounds the elements of a Const whose value is one repeated
	// element (no bytes back the allocation).
	maxSplat = 1 << 22
)

// FromGraphDef turns a GraphDef into the inlined, pruned, topologically
// sorted IR.
//
// Calls (StatefulPartitionedCall, PartitionedCall, and nodes whose op is a
// library function name) are inlined to any depth: a call's inputs are
// bound to the body's input_args and its outputs come from the body's ret
// entries. Each inlined call leaves an Identity (one output) or IdentityN
// node with the call site's name, so tensor names such as
// "StatefulPartitionedCall:0" keep working. A body node keeps its own name
// (for Keras models the layer path, e.g. "sequential_5/conv2d_23/Relu")
// unless the name is taken, in which case it becomes
// "<call-site name>/<body name>". Control inputs are dropped, default
// attributes are filled from the op table, and Const values are decoded
// into Node.Value.
func FromGraphDef(gd *graphpb.GraphDef, o BuildOptions) (*Graph, error) {
	if gd == nil {
		return nil, fmt.Errorf("build graph: nil GraphDef")
	}
	if len(o.Outputs) == 0 {
		return nil, fmt.Errorf("build graph: no outputs requested")
	}
	b := &builder{
		opts:     o,
		funcs:    map[string]*fnpb.FunctionDef{},
		extra:    map[string]*opDef{},
		taken:    map[string]bool{},
		feeds:    map[string]bool{},
		maxNodes: o.MaxNodes,
		unknown:  map[*Node]int{},
	}
	if b.maxNodes <= 0 {
		b.maxNodes = defaultMaxNodes
	}
	for _, p := range o.OpDefs {
		if p.GetName() != "" {
			b.extra[p.GetName()] = opDefFromProto(p)
		}
	}
	for _, f := range gd.GetLibrary().GetFunction() {
		name := f.GetSignature().GetName()
		if name == "" {
			return nil, fmt.Errorf("build graph: library function without a name")
		}
		if _, dup := b.funcs[name]; dup {
			return nil, fmt.Errorf("build graph: library function %q defined twice", name)
		}
		b.funcs[name] = f
	}
	b.main = &scope{nodes: map[string]*nodepb.NodeDef{}, state: map[string]*visit{}}
	for _, n := range gd.GetNode() {
		if n.GetName() == "" {
			return nil, fmt.Errorf("build graph: main graph has a node without a name (op %q)", n.GetOp())
		}
		if _, dup := b.main.nodes[n.GetName()]; dup {
			return nil, fmt.Errorf("build graph: main graph has two nodes named %q", n.GetName())
		}
		b.main.nodes[n.GetName()] = n
		b.taken[n.GetName()] = true
	}
	for _, f := range o.Feeds {
		name, _, err := ParseTensorName(f)
		if err != nil {
			return nil, fmt.Errorf("build graph: feed: %w", err)
		}
		if b.main.nodes[name] == nil {
			return nil, fmt.Errorf("build graph: feed %q: no node %q in the main graph", f, name)
		}
		b.feeds[name] = true
	}
	for _, out := range o.Outputs {
		name, idx, err := ParseTensorName(out)
		if err != nil {
			return nil, fmt.Errorf("build graph: output: %w", err)
		}
		if b.main.nodes[name] == nil {
			return nil, fmt.Errorf("build graph: output %q: no node %q in the main graph", out, name)
		}
		v, err := b.visit(b.main, name, 0)
		if err != nil {
			return nil, fmt.Errorf("build graph: %w", err)
		}
		if _, err := b.output(v, idx); err != nil {
			return nil, fmt.Errorf("build graph: output %q: %w", out, err)
		}
	}
	for n, maxIdx := range b.unknown {
		n.NumOutputs = max(maxIdx+1, 1)
	}
	if o.Variable != nil {
		for _, n := range b.nodes {
			if b.handles[n] {
				if err := o.Variable(n); err != nil {
					return nil, fmt.Errorf("build graph: variable %s: %w", n.Name, err)
				}
			}
		}
	}
	g, err := New(b.nodes)
	if err != nil {
		return nil, fmt.Errorf("build graph: %w", err)
	}
	return g, nil
}

type builder struct {
	opts     BuildOptions
	funcs    map[string]*fnpb.FunctionDef
	extra    map[string]*opDef
	main     *scope
	taken    map[string]bool
	feeds    map[string]bool
	nodes    []*Node
	maxNodes int
	// unknown holds nodes of ops without an op definition, with the
	// highest output index referenced so far.
	unknown map[*Node]int
	handles map[*Node]bool
}

// scope is the main graph or one inlined instance of a function body.
type scope struct {
	fn        *fnpb.FunctionDef // nil for the main graph
	prefix    string            // flat name of the call site
	nodes     map[string]*nodepb.NodeDef
	args      map[string]Endpoint
	callAttrs map[string]*attrpb.AttrValue // for attr placeholders
	stack     []string                     // function names, outermost first
	state     map[string]*visit
}

func (s *scope) where() string {
	if s.fn == nil {
		return "main graph"
	}
	return fmt.Sprintf("function %s (inlined at %s)", s.fn.GetSignature().GetName(), s.prefix)
}

// visit is the result of building one NodeDef of a scope.
type visit struct {
	done  bool
	nd    *nodepb.NodeDef
	attrs map[string]*attrpb.AttrValue
	node  *Node  // nil for a call without outputs
	def   *opDef // output args, for "node:arg:i" references
}

func (b *builder) lookup(op string) *opDef {
	if d := opTable[op]; d != nil {
		return d
	}
	return b.extra[op]
}

func (b *builder) isCall(nd *nodepb.NodeDef) (string, bool) {
	switch nd.GetOp() {
	case "StatefulPartitionedCall", "PartitionedCall":
		return nd.GetAttr()["f"].GetFunc().GetName(), true
	}
	if _, ok := b.funcs[nd.GetOp()]; ok {
		return nd.GetOp(), true
	}
	return "", false
}

// name returns the flat name for a node of scope s.
func (b *builder) name(s *scope, body string) string {
	if s.fn == nil {
		return body
	}
	name := body
	if b.taken[name] {
		name = s.prefix + "/" + body
		for k := 1; b.taken[name]; k++ {
			name = s.prefix + "/" + body + "_" + strconv.Itoa(k)
		}
	}
	b.taken[name] = true
	return name
}

// nodeAttrs copies nd's attributes, substitutes placeholders from the call
// site and fills in defaults.
func (b *builder) nodeAttrs(s *scope, nd *nodepb.NodeDef) (map[string]*attrpb.AttrValue, error) {
	at := make(map[string]*attrpb.AttrValue, len(nd.GetAttr())+4)
	for k, v := range nd.GetAttr() {
		if p, ok := v.GetValue().(*attrpb.AttrValue_Placeholder); ok {
			sub := s.callAttrs[p.Placeholder]
			if sub == nil {
				return nil, fmt.Errorf("attribute %q refers to function attribute %q, which the call does not set", k, p.Placeholder)
			}
			v = sub
		}
		at[k] = v
	}
	if d := opTable[nd.GetOp()]; d != nil {
		for k, v := range d.defaults {
			if at[k] == nil {
				at[k] = v
			}
		}
	}
	if d := b.extra[nd.GetOp()]; d != nil {
		for k, v := range d.defaults {
			if at[k] == nil {
				at[k] = v
			}
		}
	}
	return at, nil
}

// visit builds node name of scope s (once) and returns the result.
func (b *builder) visit(s *scope, name string, depth int) (*visit, error) {
	if v := s.state[name]; v != nil {
		if !v.done {
			return nil, fmt.Errorf("%s: cycle: node %q depends on itself", s.where(), name)
		}
		return v, nil
	}
	nd := s.nodes[name]
	if nd == nil {
		return nil, fmt.Errorf("%s: no node %q", s.where(), name)
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: node %q: graph deeper than %d nodes", s.where(), name, maxDepth)
	}
	if len(b.nodes) >= b.maxNodes {
		return nil, fmt.Errorf("%s: node %q: inlined graph has more than %d nodes", s.where(), name, b.maxNodes)
	}
	v := &visit{nd: nd}
	s.state[name] = v
	at, err := b.nodeAttrs(s, nd)
	if err != nil {
		return nil, fmt.Errorf("%s: node %q (%s): %w", s.where(), name, nd.GetOp(), err)
	}
	v.attrs = at
	flat := b.name(s, name)
	fed := s.fn == nil && b.feeds[name]
	if fname, ok := b.isCall(nd); ok && !fed {
		if err := b.inline(s, v, flat, fname, depth); err != nil {
			return nil, err
		}
		v.done = true
		return v, nil
	}
	n := &Node{Name: flat, Op: nd.GetOp(), Attrs: at}
	v.def = b.lookup(nd.GetOp())
	if v.def != nil {
		k, err := v.def.numOutputs(at)
		if err != nil {
			return nil, fmt.Errorf("%s: node %q (%s): %w", s.where(), name, nd.GetOp(), err)
		}
		n.NumOutputs = k
	} else {
		b.unknown[n] = -1
	}
	if !fed {
		for _, in := range nd.GetInput() {
			if strings.HasPrefix(in, "^") {
				continue
			}
			e, err := b.resolve(s, in, fmt.Sprintf("node %q (%s)", name, nd.GetOp()), depth+1)
			if err != nil {
				return nil, err
			}
			n.Inputs = append(n.Inputs, e)
		}
	}
	if nd.GetOp() == "Const" {
		t, err := constValue(at)
		if err != nil {
			return nil, fmt.Errorf("%s: node %q (Const): %w", s.where(), name, err)
		}
		n.Value = t
	}
	if s.fn == nil {
		switch nd.GetOp() {
		case "VarHandleOp", "VariableV2", "Variable":
			if b.handles == nil {
				b.handles = map[*Node]bool{}
			}
			b.handles[n] = true
		}
	}
	v.node = n
	v.done = true
	b.nodes = append(b.nodes, n)
	return v, nil
}

// constValue decodes a Const node's value attribute.
func constValue(at map[string]*attrpb.AttrValue) (*tensor.Tensor, error) {
	p := at["value"].GetTensor()
	if p == nil {
		return nil, fmt.Errorf("missing tensor attribute \"value\"")
	}
	shape := tensor.ShapeFromProto(p.GetTensorShape())
	if err := tensor.CheckShape(shape); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	if len(p.GetTensorContent()) == 0 && tensor.NumElements(shape) > maxSplat {
		return nil, fmt.Errorf("value: shape %v has more than %d elements and no tensor_content", shape, maxSplat)
	}
	t, err := tensor.FromProto(p)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	return t, nil
}

// inline expands a call node of scope s into its function body.
func (b *builder) inline(s *scope, v *visit, flat, fname string, depth int) error {
	nd := v.nd
	where := func() string { return fmt.Sprintf("%s: node %q (%s)", s.where(), nd.GetName(), nd.GetOp()) }
	if fname == "" {
		return fmt.Errorf("%s: call without a function attribute \"f\"", where())
	}
	fn := b.funcs[fname]
	if fn == nil {
		return fmt.Errorf("%s: calls function %q, which is not in the library", where(), fname)
	}
	for _, f := range s.stack {
		if f == fname {
			return fmt.Errorf("%s: function %q calls itself recursively", where(), fname)
		}
	}
	sig := fn.GetSignature()
	var ins []Endpoint
	for _, in := range nd.GetInput() {
		if strings.HasPrefix(in, "^") {
			continue
		}
		e, err := b.resolve(s, in, fmt.Sprintf("call %q (%s)", nd.GetName(), nd.GetOp()), depth+1)
		if err != nil {
			return err
		}
		ins = append(ins, e)
	}
	if len(ins) != len(sig.GetInputArg()) {
		return fmt.Errorf("%s: %d data inputs, but function %q has %d input args", where(), len(ins), fname, len(sig.GetInputArg()))
	}
	child := &scope{
		fn:     fn,
		prefix: flat,
		nodes:  make(map[string]*nodepb.NodeDef, len(fn.GetNodeDef())),
		args:   map[string]Endpoint{},
		stack:  append(append([]string(nil), s.stack...), fname),
		state:  map[string]*visit{},
	}
	if nd.GetOp() == "StatefulPartitionedCall" || nd.GetOp() == "PartitionedCall" {
		child.callAttrs = nd.GetAttr()["f"].GetFunc().GetAttr()
	} else {
		child.callAttrs = nd.GetAttr()
	}
	for i, a := range sig.GetInputArg() {
		if a.GetNumberAttr() != "" || a.GetTypeListAttr() != "" {
			return fmt.Errorf("%s: function %q: list input arg %q is not supported", where(), fname, a.GetName())
		}
		child.args[a.GetName()] = ins[i]
	}
	for _, n := range fn.GetNodeDef() {
		if _, dup := child.nodes[n.GetName()]; dup {
			return fmt.Errorf("%s: function %q has two nodes named %q", where(), fname, n.GetName())
		}
		child.nodes[n.GetName()] = n
	}
	// Output arg names, for "call:arg:i" references to a function-name op.
	def := &opDef{}
	var outs []Endpoint
	var types []typespb.DataType
	for _, a := range sig.GetOutputArg() {
		if a.GetNumberAttr() != "" || a.GetTypeListAttr() != "" {
			return fmt.Errorf("%s: function %q: list output arg %q is not supported", where(), fname, a.GetName())
		}
		def.outputs = append(def.outputs, outArg{name: a.GetName()})
		ref, ok := fn.GetRet()[a.GetName()]
		if !ok {
			return fmt.Errorf("%s: function %q has no ret entry for output arg %q", where(), fname, a.GetName())
		}
		e, err := b.resolve(child, ref, fmt.Sprintf("ret %q", a.GetName()), depth+1)
		if err != nil {
			return err
		}
		outs = append(outs, e)
		dt := a.GetType()
		if a.GetTypeAttr() != "" {
			dt = child.callAttrs[a.GetTypeAttr()].GetType()
		}
		types = append(types, dt)
	}
	if v.nd.GetOp() == "StatefulPartitionedCall" || v.nd.GetOp() == "PartitionedCall" {
		v.def = opTable[v.nd.GetOp()]
		k, err := v.def.numOutputs(v.attrs)
		if err != nil {
			return fmt.Errorf("%s: %w", where(), err)
		}
		if k != len(outs) {
			return fmt.Errorf("%s: attribute Tout lists %d types, but function %q has %d outputs", where(), k, fname, len(outs))
		}
	} else {
		v.def = def
	}
	if len(outs) == 0 {
		return nil
	}
	n := &Node{Name: flat, Inputs: outs, NumOutputs: len(outs)}
	if len(outs) == 1 {
		n.Op = "Identity"
		n.Attrs = map[string]*attrpb.AttrValue{"T": {Value: &attrpb.AttrValue_Type{Type: types[0]}}}
	} else {
		n.Op = "IdentityN"
		n.Attrs = map[string]*attrpb.AttrValue{"T": {Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{Type: types}}}}
	}
	v.node = n
	b.nodes = append(b.nodes, n)
	return nil
}

// output returns output idx of a visited node.
func (b *builder) output(v *visit, idx int) (Endpoint, error) {
	n := v.node
	if n == nil {
		return Endpoint{}, fmt.Errorf("node %q (%s) has no outputs", v.nd.GetName(), v.nd.GetOp())
	}
	if maxIdx, unknown := b.unknown[n]; unknown {
		if idx > maxListLen {
			return Endpoint{}, fmt.Errorf("node %s: output index %d out of range", n, idx)
		}
		b.unknown[n] = max(maxIdx, idx)
		return n.Output(idx), nil
	}
	if idx >= n.NumOutputs {
		return Endpoint{}, fmt.Errorf("node %s has %d outputs, no output %d", n, n.NumOutputs, idx)
	}
	return n.Output(idx), nil
}

// resolve turns an input reference of scope s into a flat endpoint. In the
// main graph references are "node" or "node:i"; in a function body they are
// an input arg name, "node:output_arg:i", or (leniently) "node:i".
// from names the consumer, for error messages.
func (b *builder) resolve(s *scope, ref, from string, depth int) (Endpoint, error) {
	bad := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("%s: %s: input %q: %s", s.where(), from, ref, fmt.Sprintf(format, args...))
	}
	if _, isArg := s.args[ref]; isArg {
		return s.args[ref], nil
	}
	if name, _, _ := strings.Cut(ref, ":"); s.state[name] != nil && !s.state[name].done {
		return bad("cycle: node %q depends on itself", name)
	}
	if s.fn == nil {
		name, idx, err := ParseTensorName(ref)
		if err != nil {
			return bad("%v", err)
		}
		if s.nodes[name] == nil {
			return bad("no node %q", name)
		}
		v, err := b.visit(s, name, depth)
		if err != nil {
			return Endpoint{}, err
		}
		e, err := b.output(v, idx)
		if err != nil {
			return bad("%v", err)
		}
		return e, nil
	}
	parts := strings.Split(ref, ":")
	switch len(parts) {
	case 1:
		if e, ok := s.args[ref]; ok {
			return e, nil
		}
		if s.nodes[ref] == nil {
			return bad("neither an input arg nor a node of the function")
		}
		v, err := b.visit(s, ref, depth)
		if err != nil {
			return Endpoint{}, err
		}
		e, err := b.output(v, 0)
		if err != nil {
			return bad("%v", err)
		}
		return e, nil
	case 2, 3:
		idx, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil || idx < 0 {
			return bad("bad output index")
		}
		if s.nodes[parts[0]] == nil {
			return bad("no node %q in the function", parts[0])
		}
		v, err := b.visit(s, parts[0], depth)
		if err != nil {
			return Endpoint{}, err
		}
		if len(parts) == 2 {
			e, err := b.output(v, idx)
			if err != nil {
				return bad("%v", err)
			}
			return e, nil
		}
		if v.def == nil {
			return bad("op %q is not in the op table, so output arg %q cannot be resolved", v.nd.GetOp(), parts[1])
		}
		flat, err := v.def.outputIndex(v.attrs, parts[1], idx)
		if err != nil {
			return bad("node %q (%s): %v", parts[0], v.nd.GetOp(), err)
		}
		e, err := b.output(v, flat)
		if err != nil {
			return bad("%v", err)
		}
		return e, nil
	}
	return bad("malformed reference")
}
