package graph

import (
	"fmt"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Attribute accessors. Each returns an error naming the node and attribute
// when the attribute is missing or has the wrong kind, so kernels can
// report bad graphs clearly at load time.

func (n *Node) attr(name string) (*attrpb.AttrValue, error) {
	a := n.Attrs[name]
	if a == nil {
		return nil, fmt.Errorf("node %s: missing attribute %q", n, name)
	}
	return a, nil
}

// HasAttr reports whether the node has the attribute.
func (n *Node) HasAttr(name string) bool { return n.Attrs[name] != nil }

// AttrInt returns an int attribute.
func (n *Node) AttrInt(name string) (int, error) {
	a, err := n.attr(name)
	if err != nil {
		return 0, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_I)
	if !ok {
		return 0, fmt.Errorf("node %s: attribute %q is not an int", n, name)
	}
	return int(v.I), nil
}

// AttrFloat returns a float attribute.
func (n *Node) AttrFloat(name string) (float64, error) {
	a, err := n.attr(name)
	if err != nil {
		return 0, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_F)
	if !ok {
		return 0, fmt.Errorf("node %s: attribute %q is not a float", n, name)
	}
	return float64(v.F), nil
}

// AttrBool returns a bool attribute.
func (n *Node) AttrBool(name string) (bool, error) {
	a, err := n.attr(name)
	if err != nil {
		return false, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_B)
	if !ok {
		return false, fmt.Errorf("node %s: attribute %q is not a bool", n, name)
	}
	return v.B, nil
}

// AttrString returns a string (bytes) attribute.
func (n *Node) AttrString(name string) (string, error) {
	a, err := n.attr(name)
	if err != nil {
		return "", err
	}
	v, ok := a.Value.(*attrpb.AttrValue_S)
	if !ok {
		return "", fmt.Errorf("node %s: attribute %q is not a string", n, name)
	}
	return string(v.S), nil
}

// AttrInts returns a list(int) attribute.
func (n *Node) AttrInts(name string) ([]int, error) {
	a, err := n.attr(name)
	if err != nil {
		return nil, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_List)
	if !ok {
		return nil, fmt.Errorf("node %s: attribute %q is not a list", n, name)
	}
	out := make([]int, len(v.List.GetI()))
	for i, x := range v.List.GetI() {
		out[i] = int(x)
	}
	return out, nil
}

// AttrFloats returns a list(float) attribute.
func (n *Node) AttrFloats(name string) ([]float64, error) {
	a, err := n.attr(name)
	if err != nil {
		return nil, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_List)
	if !ok {
		return nil, fmt.Errorf("node %s: attribute %q is not a list", n, name)
	}
	out := make([]float64, len(v.List.GetF()))
	for i, x := range v.List.GetF() {
		out[i] = float64(x)
	}
	return out, nil
}

// AttrStrings returns a list(string) attribute (e.g. fused_ops).
func (n *Node) AttrStrings(name string) ([]string, error) {
	a, err := n.attr(name)
	if err != nil {
		return nil, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_List)
	if !ok {
		return nil, fmt.Errorf("node %s: attribute %q is not a list", n, name)
	}
	out := make([]string, len(v.List.GetS()))
	for i, x := range v.List.GetS() {
		out[i] = string(x)
	}
	return out, nil
}

// AttrType returns a type attribute converted to a tensor.DType.
func (n *Node) AttrType(name string) (tensor.DType, error) {
	a, err := n.attr(name)
	if err != nil {
		return tensor.Invalid, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_Type)
	if !ok {
		return tensor.Invalid, fmt.Errorf("node %s: attribute %q is not a type", n, name)
	}
	dt, err := tensor.FromProtoDType(v.Type)
	if err != nil {
		return tensor.Invalid, fmt.Errorf("node %s: attribute %q: %w", n, name, err)
	}
	return dt, nil
}

// AttrShape returns a shape attribute (-1 for unknown dimensions); nil,
// nil for an unknown rank.
func (n *Node) AttrShape(name string) ([]int, error) {
	a, err := n.attr(name)
	if err != nil {
		return nil, err
	}
	v, ok := a.Value.(*attrpb.AttrValue_Shape)
	if !ok {
		return nil, fmt.Errorf("node %s: attribute %q is not a shape", n, name)
	}
	if v.Shape.GetUnknownRank() {
		return nil, nil
	}
	out := make([]int, len(v.Shape.GetDim()))
	for i, d := range v.Shape.GetDim() {
		out[i] = int(d.GetSize())
	}
	return out, nil
}

// IntAttr returns an attribute built from an int, for loaders filling
// defaults and for tests building graphs by hand.
func IntAttr(v int) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_I{I: int64(v)}}
}

// FloatAttr returns a float attribute value.
func FloatAttr(v float64) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_F{F: float32(v)}}
}

// BoolAttr returns a bool attribute value.
func BoolAttr(v bool) *attrpb.AttrValue { return &attrpb.AttrValue{Value: &attrpb.AttrValue_B{B: v}} }

// StringAttr returns a string attribute value.
func StringAttr(v string) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_S{S: []byte(v)}}
}

// IntsAttr returns a list(int) attribute value.
func IntsAttr(v ...int) *attrpb.AttrValue {
	l := &attrpb.AttrValue_ListValue{I: make([]int64, len(v))}
	for i, x := range v {
		l.I[i] = int64(x)
	}
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: l}}
}

// StringsAttr returns a list(string) attribute value.
func StringsAttr(v ...string) *attrpb.AttrValue {
	l := &attrpb.AttrValue_ListValue{S: make([][]byte, len(v))}
	for i, x := range v {
		l.S[i] = []byte(x)
	}
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: l}}
}

// TypeAttr returns a type attribute value.
func TypeAttr(dt tensor.DType) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: tensor.ProtoDType(dt)}}
}
