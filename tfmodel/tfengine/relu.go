package tfengine

import (
	"fmt"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
)

// rectifierGrads are the gradient ops TensorFlow's C++ gradient registry
// emits for the rectifiers (Relu, Relu6, LeakyRelu): each takes the
// incoming gradient dy as input 0 and the forward features as input 1.
var rectifierGrads = map[string]bool{"ReluGrad": true, "Relu6Grad": true, "LeakyReluGrad": true}

// RewriteReluGrads applies a rectifier rule to the gradient subgraph that
// Graph.AddGradients built under prefix (the nodes named prefix+"/..."),
// in place, and returns how many gradient ops it changed.
//
//   - engine.ReluNormal changes nothing.
//   - engine.ReluGuided feeds each ReluGrad, Relu6Grad and LeakyReluGrad
//     with Relu(dy) instead of dy: the true gradient, zeroed where dy < 0.
//   - engine.ReluDeconv replaces each of them by Relu(dy): max(dy, 0),
//     whatever the forward input.
//
// Only nodes under prefix are touched, so the forward graph's own
// rectifiers are left alone. A rectifier gradient node without two data
// inputs is an error naming it.
func RewriteReluGrads(gd *graphpb.GraphDef, prefix string, mode engine.ReluMode) (int, error) {
	if gd == nil {
		return 0, fmt.Errorf("tfengine: relu rewrite: nil GraphDef")
	}
	if prefix == "" {
		return 0, fmt.Errorf("tfengine: relu rewrite: empty gradient prefix")
	}
	switch mode {
	case engine.ReluNormal:
		return 0, nil
	case engine.ReluGuided, engine.ReluDeconv:
	default:
		return 0, fmt.Errorf("tfengine: relu rewrite: unknown mode %d", mode)
	}
	taken := make(map[string]bool, len(gd.GetNode()))
	for _, n := range gd.GetNode() {
		taken[n.GetName()] = true
	}
	var added []*nodepb.NodeDef
	changed := 0
	for _, n := range gd.GetNode() {
		if !rectifierGrads[n.GetOp()] || !strings.HasPrefix(n.GetName(), prefix+"/") {
			continue
		}
		var data, ctrl []string
		for _, in := range n.GetInput() {
			if strings.HasPrefix(in, "^") {
				ctrl = append(ctrl, in)
			} else {
				data = append(data, in)
			}
		}
		if len(data) != 2 {
			return 0, fmt.Errorf("tfengine: relu rewrite: node %s (%s) has %d data inputs, want 2 (gradients, features)", n.GetName(), n.GetOp(), len(data))
		}
		tAttr := n.GetAttr()["T"]
		if tAttr == nil {
			return 0, fmt.Errorf("tfengine: relu rewrite: node %s (%s) has no attribute T", n.GetName(), n.GetOp())
		}
		changed++
		if mode == engine.ReluDeconv {
			n.Op = "Relu"
			n.Input = append([]string{data[0]}, ctrl...)
			n.Attr = map[string]*attrpb.AttrValue{"T": tAttr}
			continue
		}
		name := n.GetName() + "/tbviz_guided_dy"
		for taken[name] {
			name += "_"
		}
		taken[name] = true
		added = append(added, &nodepb.NodeDef{
			Name:   name,
			Op:     "Relu",
			Input:  []string{data[0]},
			Attr:   map[string]*attrpb.AttrValue{"T": tAttr},
			Device: n.GetDevice(),
		})
		n.Input = append([]string{name, data[1]}, ctrl...)
	}
	gd.Node = append(gd.Node, added...)
	return changed, nil
}
