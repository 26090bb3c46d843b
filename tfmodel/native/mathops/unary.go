package mathops

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// unaryDef describes an element-wise op y = f(x) with dy/dx given by
// grad(x, y); keepX/keepY say which of the two grad reads.
type unaryDef struct {
	f            func(x float64) float64
	grad         func(x, y float64) float64
	keepX, keepY bool
}

var unaryOps = map[string]unaryDef{
	"Rsqrt": {f: func(x float64) float64 { return 1 / math.Sqrt(x) },
		grad: func(_, y float64) float64 { return -0.5 * y * y * y }, keepY: true},
	"Sqrt": {f: math.Sqrt,
		grad: func(_, y float64) float64 { return 0.5 / y }, keepY: true},
	"Square": {f: func(x float64) float64 { return x * x },
		grad: func(x, _ float64) float64 { return 2 * x }, keepX: true},
	"Neg": {f: func(x float64) float64 { return -x },
		grad: func(_, _ float64) float64 { return -1 }},
	"Exp": {f: math.Exp,
		grad: func(_, y float64) float64 { return y }, keepY: true},
	"Log": {f: math.Log,
		grad: func(x, _ float64) float64 { return 1 / x }, keepX: true},
	"Abs": {f: math.Abs,
		grad: func(x, _ float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return 0
		}, keepX: true},
	"Reciprocal": {f: func(x float64) float64 { return 1 / x },
		grad: func(_, y float64) float64 { return -y * y }, keepY: true},
}

func init() {
	unaryOps["Inv"] = unaryOps["Reciprocal"]
	for op, u := range unaryOps {
		d := kernel.Def{Forward: unaryForward(u), Backward: unaryBackward(u), KeepInputs: []int{}}
		if u.keepX {
			d.KeepInputs = []int{0}
		}
		if u.keepY {
			d.KeepOutputs = []int{0}
		}
		kernel.Register(op, d)
	}
}

func unaryForward(u unaryDef) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := checkInputs(c, in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if err := checkFloat(c, x, "input"); err != nil {
			return nil, err
		}
		y := tensor.NewLike(x)
		if x.DType == tensor.Float32 {
			for i, v := range x.F32 {
				y.F32[i] = float32(u.f(float64(v)))
			}
		} else {
			for i, v := range x.F64 {
				y.F64[i] = u.f(v)
			}
		}
		return []*tensor.Tensor{y}, nil
	}
}

func unaryBackward(u unaryDef) kernel.BackwardFunc {
	return func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		g := dout[0]
		if g == nil {
			return []*tensor.Tensor{nil}, nil
		}
		x, y := in[0], out[0]
		dx := tensor.NewLike(g)
		for i := range g.Len() {
			var xv, yv float64
			if x != nil {
				xv = x.Float(i)
			}
			if y != nil {
				yv = y.Float(i)
			}
			dx.SetFloat(i, g.Float(i)*u.grad(xv, yv))
		}
		return []*tensor.Tensor{dx}, nil
	}
}

func init() {
	kernel.Register("AddN", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if len(in) == 0 {
				return nil, c.Errorf("AddN needs at least one input")
			}
			for i, x := range in {
				if x == nil {
					return nil, c.Errorf("input %d is missing", i)
				}
				if err := checkFloat(c, x, "input"); err != nil {
					return nil, err
				}
				if x.DType != in[0].DType || !tensor.SameShape(x.Shape, in[0].Shape) {
					return nil, c.Errorf("input %d is %v%s, input 0 is %v%s: AddN needs equal types and shapes",
						i, x.DType, tensor.ShapeString(x.Shape), in[0].DType, tensor.ShapeString(in[0].Shape))
				}
			}
			y := in[0].Clone()
			for _, x := range in[1:] {
				if y.DType == tensor.Float32 {
					for i, v := range x.F32 {
						y.F32[i] += v
					}
				} else {
					for i, v := range x.F64 {
						y.F64[i] += v
					}
				}
			}
			return []*tensor.Tensor{y}, nil
		},
		Backward: func(_ *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			g := make([]*tensor.Tensor, len(in))
			for i := range g {
				g[i] = dout[0]
			}
			return g, nil
		},
		KeepInputs: []int{},
	})
}
