package nn

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Pooling: MaxPool, MaxPoolV2 and AvgPool over NHWC tensors. Windows are
// clipped to the input (SAME padding adds no values): MaxPool takes the
// maximum of the valid elements and AvgPool averages over the valid
// elements only, as TensorFlow does. MaxPool's gradient goes to the first
// maximum of each window in row-major scan order, like TensorFlow's CPU
// MaxPoolGrad.

func init() {
	kernel.Register("MaxPool", kernel.Def{
		Forward: poolForward(true), Backward: poolBackward(true),
		KeepInputs: []int{0}, Check: poolCheck,
	})
	kernel.Register("MaxPoolV2", kernel.Def{
		Forward: poolForward(true), Backward: poolBackward(true),
		KeepInputs: []int{0, 1, 2},
	})
	kernel.Register("AvgPool", kernel.Def{
		Forward: poolForward(false), Backward: poolBackward(false),
		KeepInputs: []int{0}, Check: poolCheck,
	})
}

// poolGeom is the geometry of one pooling op.
type poolGeom struct {
	n, h, w, c int
	kh, kw     int
	sh, sw     int
	padT, padL int
	oh, ow     int
}

func poolCheck(n *graph.Node) error {
	_, _, _, err := poolAttrs(n, nil)
	return err
}

// poolAttrs reads ksize, strides (from attributes, or from in[1], in[2]
// for MaxPoolV2) and padding.
func poolAttrs(n *graph.Node, in []*tensor.Tensor) (ksize, strides []int, padding string, err error) {
	if err = checkNHWC(n); err != nil {
		return
	}
	if n.Op == "MaxPoolV2" {
		if len(in) < 3 || in[1] == nil || in[2] == nil {
			err = poolErr(n, "MaxPoolV2 needs ksize and strides inputs")
			return
		}
		if ksize, err = in[1].Ints(); err == nil {
			strides, err = in[2].Ints()
		}
		if err != nil {
			err = poolErr(n, "ksize/strides: %v", err)
			return
		}
	} else {
		if ksize, err = n.AttrInts("ksize"); err != nil {
			return
		}
		if strides, err = n.AttrInts("strides"); err != nil {
			return
		}
	}
	if padding, err = n.AttrString("padding"); err != nil {
		return
	}
	if padding != "SAME" && padding != "VALID" {
		err = poolErr(n, "padding %q is not supported (want SAME or VALID)", padding)
		return
	}
	if len(ksize) != 4 || len(strides) != 4 {
		err = poolErr(n, "ksize %v and strides %v must have 4 entries (NHWC)", ksize, strides)
		return
	}
	if ksize[0] != 1 || ksize[3] != 1 || strides[0] != 1 || strides[3] != 1 {
		err = poolErr(n, "ksize %v and strides %v: pooling over batch or channels is not supported", ksize, strides)
		return
	}
	for _, v := range []int{ksize[1], ksize[2], strides[1], strides[2]} {
		if v <= 0 {
			err = poolErr(n, "ksize %v and strides %v must be positive", ksize, strides)
			return
		}
	}
	return
}

func poolErr(n *graph.Node, format string, args ...any) error {
	return (&kernel.Context{Node: n}).Errorf(format, args...)
}

func poolSetup(c *kernel.Context, in []*tensor.Tensor, x *tensor.Tensor) (poolGeom, error) {
	var g poolGeom
	ksize, strides, padding, err := poolAttrs(c.Node, in)
	if err != nil {
		return g, err
	}
	if x.Rank() != 4 {
		return g, c.Errorf("input must be NHWC (rank 4), got shape %s", tensor.ShapeString(x.Shape))
	}
	if !x.DType.IsFloat() {
		return g, c.Errorf("input must be float32 or float64, got %v", x.DType)
	}
	g = poolGeom{n: x.Shape[0], h: x.Shape[1], w: x.Shape[2], c: x.Shape[3],
		kh: ksize[1], kw: ksize[2], sh: strides[1], sw: strides[2]}
	if g.oh, g.padT, err = windowOutput(g.h, g.kh, g.sh, 1, padding, 0, 0); err != nil {
		return g, c.Errorf("height: %v", err)
	}
	if g.ow, g.padL, err = windowOutput(g.w, g.kw, g.sw, 1, padding, 0, 0); err != nil {
		return g, c.Errorf("width: %v", err)
	}
	return g, nil
}

// window returns the clipped input rows [y0, y1) and columns [x0, x1) of
// output position (oy, ox).
func (g *poolGeom) window(oy, ox int) (y0, y1, x0, x1 int) {
	y0 = oy*g.sh - g.padT
	x0 = ox*g.sw - g.padL
	y1 = min(y0+g.kh, g.h)
	x1 = min(x0+g.kw, g.w)
	return max(y0, 0), y1, max(x0, 0), x1
}

// poolMaxArg writes the window maxima of output (b, oy, ox) to out (c
// values) and, if arg is not nil, the flat input index of each maximum
// (the first in scan order). Windows without valid elements give -inf.
func poolMaxArg[T tensor.Float](g *poolGeom, x, out []T, arg []int, b, oy, ox int) {
	y0, y1, x0, x1 := g.window(oy, ox)
	ninf := T(math.Inf(-1))
	for ch := range out {
		out[ch] = ninf
	}
	for ch := range arg {
		arg[ch] = -1
	}
	for y := y0; y < y1; y++ {
		for xx := x0; xx < x1; xx++ {
			base := ((b*g.h+y)*g.w + xx) * g.c
			row := x[base : base+g.c]
			if arg == nil {
				for ch, v := range row {
					if v > out[ch] {
						out[ch] = v
					}
				}
				continue
			}
			for ch, v := range row {
				if v > out[ch] || arg[ch] < 0 {
					out[ch] = v
					arg[ch] = base + ch
				}
			}
		}
	}
}

func poolCompute[T tensor.Float](g *poolGeom, isMax bool, x, y []T) {
	for b := range g.n {
		for oy := range g.oh {
			for ox := range g.ow {
				o := ((b*g.oh+oy)*g.ow + ox) * g.c
				out := y[o : o+g.c]
				if isMax {
					poolMaxArg(g, x, out, nil, b, oy, ox)
					continue
				}
				y0, y1, x0, x1 := g.window(oy, ox)
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						base := ((b*g.h+y)*g.w + xx) * g.c
						for ch, v := range x[base : base+g.c] {
							out[ch] += v
						}
					}
				}
				inv := 1 / T((y1-y0)*(x1-x0))
				for ch := range out {
					out[ch] *= inv
				}
			}
		}
	}
}

func poolGrad[T tensor.Float](g *poolGeom, isMax bool, x, dy, dx []T) {
	var tmp []T
	var arg []int
	if isMax {
		tmp = make([]T, g.c)
		arg = make([]int, g.c)
	}
	for b := range g.n {
		for oy := range g.oh {
			for ox := range g.ow {
				o := ((b*g.oh+oy)*g.ow + ox) * g.c
				d := dy[o : o+g.c]
				if isMax {
					poolMaxArg(g, x, tmp, arg, b, oy, ox)
					for ch, i := range arg {
						if i >= 0 {
							dx[i] += d[ch]
						}
					}
					continue
				}
				y0, y1, x0, x1 := g.window(oy, ox)
				inv := 1 / T((y1-y0)*(x1-x0))
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						base := ((b*g.h+y)*g.w + xx) * g.c
						row := dx[base : base+g.c]
						for ch, v := range d {
							row[ch] += v * inv
						}
					}
				}
			}
		}
	}
}

func poolForward(isMax bool) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) == 0 || in[0] == nil {
			return nil, c.Errorf("missing input")
		}
		x := in[0]
		g, err := poolSetup(c, in, x)
		if err != nil {
			return nil, err
		}
		y := tensor.New(x.DType, g.n, g.oh, g.ow, g.c)
		if x.DType == tensor.Float32 {
			poolCompute(&g, isMax, x.F32, y.F32)
		} else {
			poolCompute(&g, isMax, x.F64, y.F64)
		}
		return []*tensor.Tensor{y}, nil
	}
}

func poolBackward(isMax bool) kernel.BackwardFunc {
	return func(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		grads := make([]*tensor.Tensor, len(in))
		dy := dout[0]
		if dy == nil {
			return grads, nil
		}
		x := in[0]
		g, err := poolSetup(c, in, x)
		if err != nil {
			return nil, err
		}
		if !tensor.SameShape(dy.Shape, []int{g.n, g.oh, g.ow, g.c}) || dy.DType != x.DType {
			return nil, c.Errorf("gradient is %v%s, output is %v%s", dy.DType, tensor.ShapeString(dy.Shape),
				x.DType, tensor.ShapeString([]int{g.n, g.oh, g.ow, g.c}))
		}
		dx := tensor.NewLike(x)
		if x.DType == tensor.Float32 {
			poolGrad(&g, isMax, x.F32, dy.F32, dx.F32)
		} else {
			poolGrad(&g, isMax, x.F64, dy.F64, dx.F64)
		}
		grads[0] = dx
		return grads, nil
	}
}
