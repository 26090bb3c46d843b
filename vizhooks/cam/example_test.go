package cam_test

import (
	"context"
	"fmt"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/cam"
)

type attrValue = attrpb.AttrValue

// Grad-CAM on a tiny model: the "layer" is a Relu of a 2×2×2 input,
// global average pooling feeds a dense layer with two classes.
func Example() {
	ph := &graph.Node{Name: "x", Op: "Placeholder", NumOutputs: 1, Attrs: map[string]*attrValue{"dtype": graph.TypeAttr(tensor.Float32)}}
	relu := &graph.Node{Name: "conv/Relu", Op: "Relu", NumOutputs: 1, Inputs: []graph.Endpoint{ph.Output(0)},
		Attrs: map[string]*attrValue{"T": graph.TypeAttr(tensor.Float32)}}
	axes := &graph.Node{Name: "gap/axes", Op: "Const", NumOutputs: 1, Value: tensor.FromInt32([]int32{1, 2}, 2), Attrs: map[string]*attrValue{}}
	gap := &graph.Node{Name: "gap/Mean", Op: "Mean", NumOutputs: 1, Inputs: []graph.Endpoint{relu.Output(0), axes.Output(0)},
		Attrs: map[string]*attrValue{"T": graph.TypeAttr(tensor.Float32), "keep_dims": graph.BoolAttr(false), "Tidx": graph.TypeAttr(tensor.Int32)}}
	// Class 0 looks at channel 0, class 1 at channel 1.
	w := &graph.Node{Name: "dense/kernel", Op: "Const", NumOutputs: 1, Value: tensor.FromFloat32([]float32{1, 0, 0, 1}, 2, 2), Attrs: map[string]*attrValue{}}
	mm := &graph.Node{Name: "dense/MatMul", Op: "MatMul", NumOutputs: 1, Inputs: []graph.Endpoint{gap.Output(0), w.Output(0)},
		Attrs: map[string]*attrValue{"T": graph.TypeAttr(tensor.Float32), "transpose_a": graph.BoolAttr(false), "transpose_b": graph.BoolAttr(false)}}
	g, err := graph.New([]*graph.Node{ph, relu, axes, gap, w, mm})
	if err != nil {
		panic(err)
	}
	eng, err := native.New(g, nil)
	if err != nil {
		panic(err)
	}
	defer eng.Close()

	// One 2×2 image: channel 0 is bright top-left, channel 1 bottom-right.
	img := tensor.FromFloat32([]float32{
		4, 0, 1, 0,
		0, 1, 0, 3,
	}, 1, 2, 2, 2)
	m, err := cam.ByName("grad-cam")
	if err != nil {
		panic(err)
	}
	for class := range 2 {
		maps, err := m.Compute(context.Background(), &cam.Input{
			Engine: eng, Graph: g, InputName: "x", Images: img,
			Layer: "conv/Relu", Score: "dense/MatMul", Classes: []int{class},
		})
		if err != nil {
			panic(err)
		}
		fmt.Println("class", class, maps.Shape, maps.F32)
	}
	// Output:
	// class 0 [1 2 2 1] [1 0.25 0 0]
	// class 1 [1 2 2 1] [0 0 0.25 0.75]
}
