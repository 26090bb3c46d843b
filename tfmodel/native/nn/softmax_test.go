package nn

import (
	"math"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func TestSoftmax(t *testing.T) {
	// Large logits must not overflow: softmax([1000, 1001, 1002]).
	x := tensor.FromFloat32([]float32{1000, 1001, 1002, -1, 0, 1}, 2, 3)
	e := []float64{math.Exp(-2), math.Exp(-1), 1}
	s := e[0] + e[1] + e[2]
	y := kerneltest.MustForward(t, kerneltest.Node("Softmax", 1, nil), x)[0]
	ly := kerneltest.MustForward(t, kerneltest.Node("LogSoftmax", 1, nil), x)[0]
	for row := range 2 {
		for j := range 3 {
			want := e[j] / s
			if got := y.Float(row*3 + j); math.Abs(got-want) > 1e-6 {
				t.Fatalf("softmax[%d,%d] = %g, want %g", row, j, got, want)
			}
			if got := ly.Float(row*3 + j); math.Abs(got-math.Log(want)) > 1e-5 {
				t.Fatalf("log_softmax[%d,%d] = %g, want %g", row, j, got, math.Log(want))
			}
		}
	}
	xg := kerneltest.Rand(9, -3, 3, 2, 3, 5)
	kerneltest.CheckGrad(t, kerneltest.Node("Softmax", 1, nil), []*tensor.Tensor{xg}, kerneltest.GradOptions{})
	kerneltest.CheckGrad(t, kerneltest.Node("LogSoftmax", 1, nil), []*tensor.Tensor{xg}, kerneltest.GradOptions{})
	if _, err := kerneltest.Forward(kerneltest.Node("Softmax", 1, nil), tensor.Scalar(tensor.Float32, 1)); err == nil {
		t.Fatal("softmax of a scalar: no error")
	}
	if _, err := kerneltest.Forward(kerneltest.Node("Softmax", 1, nil), tensor.FromInt32([]int32{1}, 1)); err == nil {
		t.Fatal("softmax of int32: no error")
	}
}
