package nn_test

import (
	"fmt"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	_ "github.com/tbviz/tbviz/tfmodel/native/nn" // registers the kernels
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// A _FusedConv2D (convolution, bias, ReLU) run through the kernel
// registry, as the native executor does, followed by its backward pass.
func Example() {
	node := &graph.Node{Name: "conv", Op: "_FusedConv2D", NumOutputs: 1, Attrs: map[string]*attrpb.AttrValue{
		"strides":   graph.IntsAttr(1, 1, 1, 1),
		"padding":   graph.StringAttr("VALID"),
		"fused_ops": graph.StringsAttr("BiasAdd", "Relu"),
		"num_args":  graph.IntAttr(1),
	}}
	def, _ := kernel.Lookup(node.Op)
	if err := def.Check(node); err != nil {
		fmt.Println(err)
		return
	}
	x := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 3, 3, 1) // one 3x3 image
	f := tensor.FromFloat32([]float32{1, 0, 0, -1}, 2, 2, 1, 1)               // 2x2 filter: x[i,j] - x[i+1,j+1]
	b := tensor.FromFloat32([]float32{5}, 1)
	c := &kernel.Context{Node: node}
	out, err := def.Forward(c, []*tensor.Tensor{x, f, b})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out[0].Shape, out[0].F32) // 1-5+5 = 1 everywhere
	dy := tensor.FromFloat32([]float32{1, 1, 1, 1}, 1, 2, 2, 1)
	grads, err := def.Backward(c, []*tensor.Tensor{x, f, b}, out, []*tensor.Tensor{dy})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dbias:", grads[2].F32)
	// Output:
	// [1 2 2 1] [1 1 1 1]
	// dbias: [4]
}
