package mathops_test

import (
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/native/mathops"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Broadcasting a column against a row, then reducing the gradient of the
// result back to the column's shape.
func Example() {
	col := tensor.FromFloat64([]float64{1, 2, 3}, 3, 1)
	row := tensor.FromFloat64([]float64{10, 20}, 1, 2)
	sum, err := kerneltest.Forward(kerneltest.Node("AddV2", 1, nil), col, row)
	if err != nil {
		panic(err)
	}
	fmt.Println(sum[0].Shape, sum[0].F64)
	shape, _ := mathops.BroadcastShape([]int{3, 1}, []int{1, 2})
	fmt.Println(shape)
	g, _ := mathops.SumToShape(tensor.FromFloat64([]float64{1, 1, 1, 1, 1, 1}, 3, 2), col.Shape)
	fmt.Println(g.F64)
	// Output:
	// [3 2] [11 21 12 22 13 23]
	// [3 2]
	// [2 2 2]
}
