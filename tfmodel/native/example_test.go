package native_test

import (
	"context"
	"fmt"
	"log"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// A one-layer network y = relu(x·W), run forward and differentiated with
// respect to its input and its weights.
func Example() {
	x := &graph.Node{Name: "x", Op: "Placeholder", NumOutputs: 1, Attrs: map[string]*attrpb.AttrValue{
		"dtype": graph.TypeAttr(tensor.Float32),
	}}
	w := &graph.Node{Name: "dense/kernel", Op: "Const", NumOutputs: 1,
		Value: tensor.FromFloat32([]float32{1, -1, 2, 0.5}, 2, 2)}
	mm := &graph.Node{Name: "dense/MatMul", Op: "MatMul", NumOutputs: 1, Inputs: []graph.Endpoint{x.Output(0), w.Output(0)},
		Attrs: map[string]*attrpb.AttrValue{"transpose_a": graph.BoolAttr(false), "transpose_b": graph.BoolAttr(false)}}
	y := &graph.Node{Name: "dense/Relu", Op: "Relu", NumOutputs: 1, Inputs: []graph.Endpoint{mm.Output(0)},
		Attrs: map[string]*attrpb.AttrValue{}}
	g, err := graph.New([]*graph.Node{x, w, mm, y})
	if err != nil {
		log.Fatal(err)
	}
	e, err := native.New(g, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	feeds := map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{1, 2}, 1, 2)}
	out, err := e.Run(context.Background(), feeds, []string{"dense/Relu", "dense/MatMul"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("relu:", out[0].F32, "matmul:", out[1].F32)

	// d y[0,0] / d x and d y[0,0] / d W.
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds:   feeds,
		Targets: []string{"dense/Relu"},
		Wrt:     []string{"x", "dense/kernel"},
		Seed: func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
			s := tensor.NewLike(v["dense/Relu"])
			s.F32[0] = 1
			return map[string]*tensor.Tensor{"dense/Relu": s}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("dy/dx:", res.Grads["x"].F32)
	fmt.Println("dy/dW:", res.Grads["dense/kernel"].F32)
	// Output:
	// relu: [5 0] matmul: [5 0]
	// dy/dx: [1 2]
	// dy/dW: [1 0 2 0]
}
