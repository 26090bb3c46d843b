package nn

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Softmax and LogSoftmax over the last axis, computed stably (the row
// maximum is subtracted before exponentiating). Their backward passes read
// only the output: dx = y·(dy - Σ dy·y) for Softmax and dx = dy - e^y·Σ dy
// for LogSoftmax.

func init() {
	kernel.Register("Softmax", kernel.Def{
		Forward: softmaxForward(false), Backward: softmaxBackward(false),
		KeepInputs: []int{}, KeepOutputs: []int{0},
	})
	kernel.Register("LogSoftmax", kernel.Def{
		Forward: softmaxForward(true), Backward: softmaxBackward(true),
		KeepInputs: []int{}, KeepOutputs: []int{0},
	})
}

func softmaxRows[T tensor.Float](x, y []T, n int, logs bool) {
	for i := 0; i < len(x); i += n {
		xr, yr := x[i:i+n], y[i:i+n]
		mx := math.Inf(-1)
		for _, v := range xr {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range xr {
			s += math.Exp(float64(v) - mx)
		}
		if logs {
			ls := math.Log(s)
			for j, v := range xr {
				yr[j] = T(float64(v) - mx - ls)
			}
			continue
		}
		for j, v := range xr {
			yr[j] = T(math.Exp(float64(v)-mx) / s)
		}
	}
}

func softmaxGradRows[T tensor.Float](y, dy, dx []T, n int, logs bool) {
	for i := 0; i < len(y); i += n {
		yr, gr, dr := y[i:i+n], dy[i:i+n], dx[i:i+n]
		var s float64
		for j, g := range gr {
			if logs {
				s += float64(g)
			} else {
				s += float64(g) * float64(yr[j])
			}
		}
		for j, g := range gr {
			if logs {
				dr[j] = T(float64(g) - math.Exp(float64(yr[j]))*s)
			} else {
				dr[j] = T(float64(yr[j]) * (float64(g) - s))
			}
		}
	}
}

func softmaxForward(logs bool) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) != 1 || in[0] == nil {
			return nil, c.Errorf("expected 1 input")
		}
		x := in[0]
		if !x.DType.IsFloat() {
			return nil, c.Errorf("logits must be float32 or float64, got %v", x.DType)
		}
		if x.Rank() < 1 {
			return nil, c.Errorf("logits must have rank >= 1, got a scalar")
		}
		y := tensor.NewLike(x)
		n := x.Shape[x.Rank()-1]
		if n == 0 {
			return []*tensor.Tensor{y}, nil
		}
		if x.DType == tensor.Float32 {
			softmaxRows(x.F32, y.F32, n, logs)
		} else {
			softmaxRows(x.F64, y.F64, n, logs)
		}
		return []*tensor.Tensor{y}, nil
	}
}

func softmaxBackward(logs bool) kernel.BackwardFunc {
	return func(c *kernel.Context, _, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		dy, y := dout[0], out[0]
		if dy == nil {
			return []*tensor.Tensor{nil}, nil
		}
		if y == nil || !tensor.SameShape(y.Shape, dy.Shape) || y.DType != dy.DType {
			return nil, c.Errorf("gradient does not match the output")
		}
		dx := tensor.NewLike(y)
		n := y.Shape[y.Rank()-1]
		if n == 0 {
			return []*tensor.Tensor{dx}, nil
		}
		if y.DType == tensor.Float32 {
			softmaxGradRows(y.F32, dy.F32, dx.F32, n, logs)
		} else {
			softmaxGradRows(y.F64, dy.F64, dx.F64, n, logs)
		}
		return []*tensor.Tensor{dx}, nil
	}
}
