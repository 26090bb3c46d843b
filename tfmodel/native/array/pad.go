package array

import (
	"github.com/tbviz/tbviz/tfmodel/native/array/strided"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

type padMode uint8

const (
	padConstant padMode = iota
	padReflect
	padSymmetric
)

func init() {
	kernel.Register("Pad", kernel.Def{Forward: padForward(false), Backward: padBackward, KeepInputs: []int{1}})
	kernel.Register("PadV2", kernel.Def{Forward: padForward(true), Backward: padBackward, KeepInputs: []int{1}})
	kernel.Register("MirrorPad", kernel.Def{Forward: padForward(false), Backward: padBackward, KeepInputs: []int{1}})
}

func padModeOf(c *kernel.Context) (padMode, error) {
	if c.Node.Op != "MirrorPad" {
		return padConstant, nil
	}
	m, err := c.Node.AttrString("mode")
	if err != nil {
		return 0, c.Errorf("%v", err)
	}
	switch m {
	case "REFLECT":
		return padReflect, nil
	case "SYMMETRIC":
		return padSymmetric, nil
	}
	return 0, c.Errorf("mode %q: expected REFLECT or SYMMETRIC", m)
}

// padPlan reads the paddings input for an input of shape in and returns
// the output shape and the tables reading the input for each output
// position (-1 in constant padding).
func padPlan(c *kernel.Context, in []int, paddings *tensor.Tensor, mode padMode) ([]int, [][]int, error) {
	r := len(in)
	if paddings.Rank() != 2 || paddings.Shape[0] != r || paddings.Shape[1] != 2 {
		return nil, nil, c.Errorf("paddings must have shape (%d, 2) for a rank-%d input, got %s", r, r, tensor.ShapeString(paddings.Shape))
	}
	p, err := intArg(c, paddings, "paddings")
	if err != nil {
		return nil, nil, err
	}
	st := strided.Strides(in)
	out := make([]int, r)
	tables := make([][]int, r)
	for d, n := range in {
		before, after := p[2*d], p[2*d+1]
		if before < 0 || after < 0 {
			return nil, nil, c.Errorf("paddings of dimension %d are negative: [%d, %d]", d, before, after)
		}
		if before > tensor.MaxElements || after > tensor.MaxElements {
			return nil, nil, c.Errorf("paddings of dimension %d are too large: [%d, %d]", d, before, after)
		}
		limit := n // SYMMETRIC
		if mode == padReflect {
			limit = n - 1
		}
		if mode != padConstant && (before > limit || after > limit) {
			return nil, nil, c.Errorf("paddings [%d, %d] of dimension %d exceed %d, the most %s mirror padding allows for size %d",
				before, after, d, limit, map[padMode]string{padReflect: "REFLECT", padSymmetric: "SYMMETRIC"}[mode], n)
		}
		out[d] = n + before + after
		if out[d] > tensor.MaxElements {
			return nil, nil, c.Errorf("padded dimension %d is too large", d)
		}
		t := make([]int, out[d])
		for o := range t {
			i := o - before
			switch {
			case i >= 0 && i < n:
			case mode == padConstant:
				t[o] = -1
				continue
			case i < 0 && mode == padReflect:
				i = -i
			case i < 0:
				i = -i - 1
			case mode == padReflect:
				i = 2*n - 2 - i
			default:
				i = 2*n - 1 - i
			}
			t[o] = i * st[d]
		}
		tables[d] = t
	}
	if err := tensor.CheckShape(out); err != nil {
		return nil, nil, c.Errorf("padded shape: %v", err)
	}
	return out, tables, nil
}

func padForward(v2 bool) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		want := 2
		if v2 {
			want = 3
		}
		if err := checkInputs(c, in, want); err != nil {
			return nil, err
		}
		mode, err := padModeOf(c)
		if err != nil {
			return nil, err
		}
		x := in[0]
		out, tables, err := padPlan(c, x.Shape, in[1], mode)
		if err != nil {
			return nil, err
		}
		fill := 0.0
		if v2 {
			cv := in[2]
			if cv.Len() != 1 || cv.Rank() != 0 {
				return nil, c.Errorf("constant_values must be a scalar, got shape %s", tensor.ShapeString(cv.Shape))
			}
			if cv.DType != x.DType {
				return nil, c.Errorf("constant_values is %v, input is %v", cv.DType, x.DType)
			}
			fill = cv.Float(0)
		}
		return one(strided.Gather(x, out, tables, fill)), nil
	}
}

// padBackward scatters the gradient back through the forward tables; a
// PadV2 constant gets the sum of the gradient over the padding.
func padBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	g := dout[0]
	if !floatGrad(g) {
		return grads, nil
	}
	mode, err := padModeOf(c)
	if err != nil {
		return nil, err
	}
	p, err := intArg(c, in[1], "paddings")
	if err != nil {
		return nil, err
	}
	if len(p) != 2*g.Rank() {
		return nil, c.Errorf("gradient rank %d does not match paddings %s", g.Rank(), tensor.ShapeString(in[1].Shape))
	}
	shape := make([]int, g.Rank())
	for d := range shape {
		shape[d] = g.Shape[d] - p[2*d] - p[2*d+1]
	}
	_, tables, err := padPlan(c, shape, in[1], mode)
	if err != nil {
		return nil, err
	}
	dx := tensor.New(g.DType, shape...)
	strided.Scatter(dx, g, tables, strided.Sum)
	grads[0] = dx
	if len(in) == 3 {
		var total, inner float64
		for i := range g.Len() {
			total += g.Float(i)
		}
		for i := range dx.Len() {
			inner += dx.Float(i)
		}
		grads[2] = tensor.Scalar(g.DType, total-inner)
	}
	return grads, nil
}
