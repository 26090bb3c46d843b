package strided

import (
	"fmt"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func TestBroadcastTablesErrors(t *testing.T) {
	for _, tc := range []struct{ in, out []int }{{[]int{3}, []int{2, 4}}, {[]int{2, 3}, []int{3}}} {
		if _, err := BroadcastTables(tc.in, tc.out); err == nil {
			t.Errorf("BroadcastTables(%v, %v): no error", tc.in, tc.out)
		}
	}
}

func TestGatherScatterAdjoint(t *testing.T) {
	// <Gather(x), y> == <x, Scatter(y)> for a padding + mirroring table.
	x := tensor.FromFloat64([]float64{1, 2, 3, 4, 5, 6}, 2, 3)
	tables := [][]int{{-1, 0, 3}, {2, 1, 0, 1, -1}}
	g := Gather(x, []int{3, 5}, tables, 0)
	want := []float64{0, 0, 0, 0, 0, 3, 2, 1, 2, 0, 6, 5, 4, 5, 0}
	for i, w := range want {
		if g.F64[i] != w {
			t.Fatalf("Gather = %v, want %v", g.F64, want)
		}
	}
	y := tensor.New(tensor.Float64, 3, 5)
	for i := range y.F64 {
		y.F64[i] = float64(i%4) - 1.5
	}
	s := tensor.New(tensor.Float64, 2, 3)
	Scatter(s, y, tables, Sum)
	var l, r float64
	for i := range g.F64 {
		l += g.F64[i] * y.F64[i]
	}
	for i := range s.F64 {
		r += x.F64[i] * s.F64[i]
	}
	if l != r {
		t.Fatalf("<Gather x, y> = %g, <x, Scatter y> = %g", l, r)
	}
}

// Transposing a 2x3 matrix.
func ExamplePermute() {
	x := tensor.FromInt32([]int32{1, 2, 3, 4, 5, 6}, 2, 3)
	y := Permute(x, []int{1, 0})
	fmt.Println(y.Shape, y.I32)
	// Output: [3 2] [1 4 2 5 3 6]
}
