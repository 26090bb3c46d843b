package native

import (
	"fmt"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// buildTFJSGraph turns a TF.js GraphDef (tfjs.Load) into the graph IR for
// the oracle tests: nodes topologically sorted, control inputs dropped,
// Const values decoded, and each node's output count taken from the
// highest output index any consumer reads. It stands in for
// graph.FromGraphDef until that lands; TF.js graph-models have no
// functions to inline.
func buildTFJSGraph(gd *graphpb.GraphDef) (*graph.Graph, error) {
	defs := map[string]int{}
	for i, nd := range gd.GetNode() {
		if _, dup := defs[nd.GetName()]; dup {
			return nil, fmt.Errorf("duplicate node %q", nd.GetName())
		}
		defs[nd.GetName()] = i
	}
	nout := make([]int, len(gd.GetNode()))
	for i := range nout {
		nout[i] = 1
	}
	type ref struct {
		node int
		idx  int
	}
	ins := make([][]ref, len(gd.GetNode()))
	for i, nd := range gd.GetNode() {
		for _, in := range nd.GetInput() {
			if strings.HasPrefix(in, "^") {
				continue
			}
			name, idx, err := graph.ParseTensorName(in)
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", nd.GetName(), err)
			}
			j, ok := defs[name]
			if !ok {
				return nil, fmt.Errorf("node %s: unknown input %q", nd.GetName(), in)
			}
			nout[j] = max(nout[j], idx+1)
			ins[i] = append(ins[i], ref{j, idx})
		}
	}
	nodes := make([]*graph.Node, len(gd.GetNode()))
	for i, nd := range gd.GetNode() {
		n := &graph.Node{Name: nd.GetName(), Op: nd.GetOp(), NumOutputs: nout[i], Attrs: nd.GetAttr()}
		if n.Attrs == nil {
			n.Attrs = map[string]*attrpb.AttrValue{}
		}
		if nd.GetOp() == "Const" {
			v, err := tensor.FromProto(nd.GetAttr()["value"].GetTensor())
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", nd.GetName(), err)
			}
			n.Value = v
		}
		nodes[i] = n
	}
	// Depth-first topological order.
	var order []*graph.Node
	state := make([]uint8, len(nodes)) // 0 new, 1 visiting, 2 done
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("cycle through node %s", nodes[i].Name)
		case 2:
			return nil
		}
		state[i] = 1
		for _, r := range ins[i] {
			if err := visit(r.node); err != nil {
				return err
			}
			nodes[i].Inputs = append(nodes[i].Inputs, nodes[r.node].Output(r.idx))
		}
		state[i] = 2
		order = append(order, nodes[i])
		return nil
	}
	for i := range nodes {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return graph.New(order)
}
