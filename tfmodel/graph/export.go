package graph

import (
	"fmt"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	versionspb "github.com/wamuir/graft/tensorflow/core/framework/versions_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// exportProducer is the GraphDef producer version written by ToGraphDef:
// that of TensorFlow 2.18, whose C API the TensorFlow engine links.
const exportProducer = 1994

// ToGraphDef writes g back as a flat GraphDef (no function library) that
// TensorFlow can import and FromGraphDef can read again:
//
//   - every node with a Value (Const nodes and bound variables) becomes a
//     Const node holding that value, so variable handles (VarHandleOp,
//     VariableV2) become Consts of the variable's value;
//   - a ReadVariableOp whose input is such a node becomes an Identity of
//     the value (attribute T set from its dtype);
//   - other nodes keep their op, their attributes (defaults included) and
//     their data inputs, written "node" or "node:i";
//   - attributes whose name starts with "_" (colocation, control-flow and
//     grappler annotations) are dropped, except on ops whose own name
//     starts with "_" (_FusedConv2D and the like), whose attributes are
//     all part of the op.
//
// Node names are kept, so tensor names valid for g stay valid in the
// GraphDef. Nodes without an op, and Value nodes of a dtype TensorFlow
// cannot hold in a Const, are errors naming the node.
func ToGraphDef(g *Graph) (*graphpb.GraphDef, error) {
	if g == nil {
		return nil, fmt.Errorf("export graph: nil graph")
	}
	gd := &graphpb.GraphDef{
		Node:     make([]*nodepb.NodeDef, 0, len(g.Nodes)),
		Versions: &versionspb.VersionDef{Producer: exportProducer},
	}
	for _, n := range g.Nodes {
		nd, err := exportNode(n)
		if err != nil {
			return nil, fmt.Errorf("export graph: node %s: %w", n, err)
		}
		gd.Node = append(gd.Node, nd)
	}
	return gd, nil
}

func exportNode(n *Node) (*nodepb.NodeDef, error) {
	if n.Value != nil {
		if tensor.ProtoDType(n.Value.DType) == 0 {
			return nil, fmt.Errorf("value has dtype %v, which has no TensorFlow equivalent", n.Value.DType)
		}
		if err := tensor.CheckShape(n.Value.Shape); err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		if got, want := valueLen(n.Value), n.Value.Len(); got != want {
			return nil, fmt.Errorf("value of shape %s holds %d elements, want %d", tensor.ShapeString(n.Value.Shape), got, want)
		}
		return &nodepb.NodeDef{
			Name: n.Name,
			Op:   "Const",
			Attr: map[string]*attrpb.AttrValue{
				"dtype": TypeAttr(n.Value.DType),
				"value": {Value: &attrpb.AttrValue_Tensor{Tensor: n.Value.Proto()}},
			},
		}, nil
	}
	if n.Op == "" {
		return nil, fmt.Errorf("no op type")
	}
	nd := &nodepb.NodeDef{Name: n.Name, Op: n.Op, Attr: make(map[string]*attrpb.AttrValue, len(n.Attrs))}
	keepInternal := strings.HasPrefix(n.Op, "_")
	for k, v := range n.Attrs {
		if strings.HasPrefix(k, "_") && !keepInternal {
			continue
		}
		nd.Attr[k] = v
	}
	for _, in := range n.Inputs {
		nd.Input = append(nd.Input, in.String())
	}
	if n.Op == "ReadVariableOp" && len(n.Inputs) == 1 && n.Inputs[0].Node.Value != nil {
		dt := n.Inputs[0].Node.Value.DType
		if n.HasAttr("dtype") {
			want, err := n.AttrType("dtype")
			if err != nil {
				return nil, err
			}
			if want != dt {
				return nil, fmt.Errorf("reads a %v variable but has dtype %v", dt, want)
			}
		}
		nd.Op = "Identity"
		nd.Attr = map[string]*attrpb.AttrValue{"T": TypeAttr(dt)}
	}
	return nd, nil
}

// valueLen is the number of elements t's data slice holds.
func valueLen(t *tensor.Tensor) int {
	switch t.DType {
	case tensor.Float32:
		return len(t.F32)
	case tensor.Float64:
		return len(t.F64)
	case tensor.Int32:
		return len(t.I32)
	case tensor.Int64:
		return len(t.I64)
	case tensor.Bool:
		return len(t.B)
	case tensor.String:
		return len(t.Str)
	case tensor.Uint8:
		return len(t.U8)
	}
	return -1
}
