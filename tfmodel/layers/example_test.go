package layers_test

import (
	"fmt"
	"os"

	"github.com/tbviz/tbviz/tfmodel/layers"
)

func ExampleScopeOf() {
	fmt.Println(layers.ScopeOf("sequential_5/model2/out_relu/Relu6"))
	fmt.Println(layers.ScopeOf("Identity"))
	// Output:
	// sequential_5/model2/out_relu
	// Identity
}

func ExampleWriteTable() {
	rows := []layers.Row{
		{Name: "sequential/conv2d", Op: "Conv2D", Shape: []int{1, 30, 30, 32}, Params: 896},
		{Name: "sequential/flatten", Op: "Reshape", Shape: []int{1, 1024}},
		{Name: "sequential/dense", Op: "MatMul", Shape: []int{1, 64}, Params: 65600},
	}
	layers.WriteTable(os.Stdout, rows)
	// Output:
	// Layer               Op       Output shape     Params
	// sequential/conv2d   Conv2D   (1, 30, 30, 32)  896
	// sequential/flatten  Reshape  (1, 1024)        0
	// sequential/dense    MatMul   (1, 64)          65,600
	// Total params: 66,496
}
