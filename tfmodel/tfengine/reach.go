package tfengine

import (
	"fmt"
	"strconv"
	"strings"

	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
)

// noGradientOps are the ops TensorFlow's C++ gradient registry declares
// without a gradient (REGISTER_NO_GRADIENT_OP in tensorflow/cc/gradients)
// that can appear in an image model's graph: no gradient flows through
// them to their inputs.
var noGradientOps = map[string]bool{
	"Const": true, "Shape": true, "ShapeN": true, "Size": true, "Rank": true, "ZerosLike": true,
	"StopGradient": true, "Equal": true, "NotEqual": true, "Greater": true, "GreaterEqual": true,
	"Less": true, "LessEqual": true, "LogicalAnd": true, "LogicalOr": true, "LogicalNot": true,
	"Floor": true, "OneHot": true, "InvertPermutation": true, "BroadcastGradientArgs": true,
}

// Reachable reports, for each tensor of wrt, whether a gradient flows to
// it from the tensors of targets through the GraphDef: along data edges,
// not through ops without a gradient, and only into inputs for which
// differentiable(tensor) holds (floating-point tensors; nil means all).
// TensorFlow's AddGradients fails for a tensor that is not reachable; the
// engine gives those a zero gradient instead, as the engine contract asks.
// A name missing from gd is an error.
func Reachable(gd *graphpb.GraphDef, targets, wrt []string, differentiable func(tensor string) bool) ([]bool, error) {
	nodes := make(map[string]*graphpbNode, len(gd.GetNode()))
	for _, n := range gd.GetNode() {
		nodes[n.GetName()] = &graphpbNode{op: n.GetOp(), inputs: n.GetInput()}
	}
	canon := func(name string) (string, error) {
		nm, k := SplitTensor(name)
		if nodes[nm] == nil {
			return "", fmt.Errorf("no node %q in the lowered graph", nm)
		}
		return nm + ":" + strconv.Itoa(k), nil
	}
	seen := map[string]bool{}    // reached tensors
	visited := map[string]bool{} // expanded nodes
	var stack []string
	for _, t := range targets {
		c, err := canon(t)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", t, err)
		}
		seen[c] = true
		nm, _ := SplitTensor(c)
		stack = append(stack, nm)
	}
	for len(stack) > 0 {
		nm := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[nm] {
			continue
		}
		visited[nm] = true
		n := nodes[nm]
		if noGradientOps[n.op] {
			continue
		}
		for _, in := range n.inputs {
			if strings.HasPrefix(in, "^") {
				continue
			}
			c, err := canon(in)
			if err != nil {
				return nil, fmt.Errorf("node %s: input %q: %w", nm, in, err)
			}
			if seen[c] || (differentiable != nil && !differentiable(c)) {
				continue
			}
			seen[c] = true
			src, _ := SplitTensor(c)
			stack = append(stack, src)
		}
	}
	out := make([]bool, len(wrt))
	for i, w := range wrt {
		c, err := canon(w)
		if err != nil {
			return nil, fmt.Errorf("wrt %q: %w", w, err)
		}
		out[i] = seen[c]
	}
	return out, nil
}

type graphpbNode struct {
	op     string
	inputs []string
}
