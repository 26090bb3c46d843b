package array

import (
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("ConcatV2", kernel.Def{Forward: concatForward(false), Backward: concatBackward(false)})
	kernel.Register("Concat", kernel.Def{Forward: concatForward(true), Backward: concatBackward(true)})
	kernel.Register("Pack", kernel.Def{Forward: packForward, Backward: packBackward, KeepInputs: []int{}})
	kernel.Register("Unpack", kernel.Def{Forward: unpackForward, Backward: unpackBackward, KeepInputs: []int{}})
	kernel.Register("Split", kernel.Def{Forward: splitForward, Backward: splitBackward, KeepInputs: []int{0}})
	kernel.Register("SplitV", kernel.Def{Forward: splitVForward, Backward: splitBackward})
}

// copyRows copies, for each of outer rows, n elements from src (row
// stride ss, offset so) to dst (row stride ds, offset do).
func copyRows[E any](dst, src []E, outer, n, ds, do, ss, so int) {
	for r := range outer {
		copy(dst[r*ds+do:r*ds+do+n], src[r*ss+so:r*ss+so+n])
	}
}

// blockCopy dispatches copyRows on dtype; dst and src share a dtype.
func blockCopy(dst, src *tensor.Tensor, outer, n, ds, do, ss, so int) {
	switch dst.DType {
	case tensor.Float32:
		copyRows(dst.F32, src.F32, outer, n, ds, do, ss, so)
	case tensor.Float64:
		copyRows(dst.F64, src.F64, outer, n, ds, do, ss, so)
	case tensor.Int32:
		copyRows(dst.I32, src.I32, outer, n, ds, do, ss, so)
	case tensor.Int64:
		copyRows(dst.I64, src.I64, outer, n, ds, do, ss, so)
	case tensor.Bool:
		copyRows(dst.B, src.B, outer, n, ds, do, ss, so)
	case tensor.Uint8:
		copyRows(dst.U8, src.U8, outer, n, ds, do, ss, so)
	case tensor.String:
		copyRows(dst.Str, src.Str, outer, n, ds, do, ss, so)
	}
}

// concat joins xs (same dtype and rank, equal except along axis) along
// axis; a nil entry counts as zeros of shape shapes[i].
func concat(dt tensor.DType, xs []*tensor.Tensor, shapes [][]int, axis int) *tensor.Tensor {
	out := append([]int(nil), shapes[0]...)
	out[axis] = 0
	for _, s := range shapes {
		out[axis] += s[axis]
	}
	y := tensor.New(dt, out...)
	outer := tensor.NumElements(out[:axis])
	inner := tensor.NumElements(out[axis+1:])
	ds := out[axis] * inner
	do := 0
	for i, x := range xs {
		n := shapes[i][axis] * inner
		if x != nil && n > 0 {
			blockCopy(y, x, outer, n, ds, do, n, 0)
		}
		do += n
	}
	return y
}

// split cuts x along axis into pieces of the given sizes.
func split(x *tensor.Tensor, axis int, sizes []int) []*tensor.Tensor {
	outer := tensor.NumElements(x.Shape[:axis])
	inner := tensor.NumElements(x.Shape[axis+1:])
	ss := x.Shape[axis] * inner
	so := 0
	out := make([]*tensor.Tensor, len(sizes))
	for i, s := range sizes {
		shape := append([]int(nil), x.Shape...)
		shape[axis] = s
		y := tensor.New(x.DType, shape...)
		if n := s * inner; n > 0 {
			blockCopy(y, x, outer, n, n, 0, ss, so)
		}
		so += s * inner
		out[i] = y
	}
	return out
}

// concatArgs separates the values from the axis input.
func concatArgs(in []*tensor.Tensor, axisFirst bool) ([]*tensor.Tensor, *tensor.Tensor) {
	if axisFirst {
		return in[1:], in[0]
	}
	return in[:len(in)-1], in[len(in)-1]
}

func concatForward(axisFirst bool) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) < 2 {
			return nil, c.Errorf("expected at least one value and the axis, got %d inputs", len(in))
		}
		if err := checkInputs(c, in, len(in)); err != nil {
			return nil, err
		}
		xs, ax := concatArgs(in, axisFirst)
		axis, shapes, err := concatPlan(c, xs, ax)
		if err != nil {
			return nil, err
		}
		if err := tensor.CheckShape(shapes[0]); err != nil {
			return nil, c.Errorf("%v", err)
		}
		return one(concat(xs[0].DType, xs, shapes, axis)), nil
	}
}

func concatPlan(c *kernel.Context, xs []*tensor.Tensor, ax *tensor.Tensor) (int, [][]int, error) {
	a, err := scalarInt(c, ax, "axis")
	if err != nil {
		return 0, nil, err
	}
	r := xs[0].Rank()
	if r == 0 {
		return 0, nil, c.Errorf("cannot concatenate scalars")
	}
	axis, err := normAxis(c, a, r, "axis")
	if err != nil {
		return 0, nil, err
	}
	shapes := make([][]int, len(xs))
	total := 0
	for i, x := range xs {
		if x.DType != xs[0].DType {
			return 0, nil, c.Errorf("value %d is %v, value 0 is %v", i, x.DType, xs[0].DType)
		}
		if x.Rank() != r {
			return 0, nil, c.Errorf("value %d has shape %s, value 0 has shape %s: ranks differ", i, tensor.ShapeString(x.Shape), tensor.ShapeString(xs[0].Shape))
		}
		for d := range r {
			if d != axis && x.Shape[d] != xs[0].Shape[d] {
				return 0, nil, c.Errorf("value %d has shape %s, value 0 has shape %s: they differ outside axis %d", i, tensor.ShapeString(x.Shape), tensor.ShapeString(xs[0].Shape), axis)
			}
		}
		shapes[i] = x.Shape
		total += x.Shape[axis]
	}
	probe := append([]int(nil), xs[0].Shape...)
	probe[axis] = total
	if err := tensor.CheckShape(probe); err != nil {
		return 0, nil, c.Errorf("%v", err)
	}
	return axis, shapes, nil
}

func concatBackward(axisFirst bool) kernel.BackwardFunc {
	return func(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		grads := make([]*tensor.Tensor, len(in))
		g := dout[0]
		if !floatGrad(g) {
			return grads, nil
		}
		xs, ax := concatArgs(in, axisFirst)
		axis, shapes, err := concatPlan(c, xs, ax)
		if err != nil {
			return nil, err
		}
		sizes := make([]int, len(shapes))
		for i, s := range shapes {
			sizes[i] = s[axis]
		}
		parts := split(g, axis, sizes)
		if axisFirst {
			copy(grads[1:], parts)
		} else {
			copy(grads, parts)
		}
		return grads, nil
	}
}

func packForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) == 0 {
		return nil, c.Errorf("Pack needs at least one input")
	}
	if err := checkInputs(c, in, len(in)); err != nil {
		return nil, err
	}
	a, err := intAttr(c.Node, "axis", 0)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	r := in[0].Rank()
	axis, err := normAxis(c, a, r+1, "axis")
	if err != nil {
		return nil, err
	}
	xs := make([]*tensor.Tensor, len(in))
	shapes := make([][]int, len(in))
	for i, x := range in {
		if x.DType != in[0].DType || !tensor.SameShape(x.Shape, in[0].Shape) {
			return nil, c.Errorf("value %d is %v%s, value 0 is %v%s: Pack needs equal types and shapes",
				i, x.DType, tensor.ShapeString(x.Shape), in[0].DType, tensor.ShapeString(in[0].Shape))
		}
		s := append(append(append([]int{}, x.Shape[:axis]...), 1), x.Shape[axis:]...)
		xs[i], shapes[i] = reshaped(x, s), s
	}
	out := append([]int(nil), shapes[0]...)
	out[axis] = len(in)
	if err := tensor.CheckShape(out); err != nil {
		return nil, c.Errorf("%v", err)
	}
	return one(concat(in[0].DType, xs, shapes, axis)), nil
}

func packBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return make([]*tensor.Tensor, len(in)), nil
	}
	a, _ := intAttr(c.Node, "axis", 0)
	axis, err := normAxis(c, a, g.Rank(), "axis")
	if err != nil {
		return nil, err
	}
	return unstack(g, axis), nil
}

// unstack splits x along axis into x.Shape[axis] tensors without it.
func unstack(x *tensor.Tensor, axis int) []*tensor.Tensor {
	sizes := make([]int, x.Shape[axis])
	for i := range sizes {
		sizes[i] = 1
	}
	parts := split(x, axis, sizes)
	shape := append(append([]int{}, x.Shape[:axis]...), x.Shape[axis+1:]...)
	for i, p := range parts {
		parts[i] = reshaped(p, shape)
	}
	return parts
}

func unpackForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 1); err != nil {
		return nil, err
	}
	a, err := intAttr(c.Node, "axis", 0)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	x := in[0]
	axis, err := normAxis(c, a, x.Rank(), "axis")
	if err != nil {
		return nil, err
	}
	if num, err := intAttr(c.Node, "num", x.Shape[axis]); err != nil || num != x.Shape[axis] {
		return nil, c.Errorf("num is %d, but dimension %d of %s has size %d", num, axis, tensor.ShapeString(x.Shape), x.Shape[axis])
	}
	return unstack(x, axis), nil
}

func unpackBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	var ref *tensor.Tensor
	for _, g := range dout {
		if floatGrad(g) {
			ref = g
		}
	}
	if ref == nil {
		return []*tensor.Tensor{nil}, nil
	}
	a, _ := intAttr(c.Node, "axis", 0)
	axis, err := normAxis(c, a, ref.Rank()+1, "axis")
	if err != nil {
		return nil, err
	}
	s := append(append(append([]int{}, ref.Shape[:axis]...), 1), ref.Shape[axis:]...)
	xs := make([]*tensor.Tensor, len(dout))
	shapes := make([][]int, len(dout))
	for i, g := range dout {
		if g != nil {
			xs[i] = reshaped(g, s)
		}
		shapes[i] = s
	}
	return one(concat(ref.DType, xs, shapes, axis)), nil
}

func splitForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 2); err != nil {
		return nil, err
	}
	x := in[1]
	a, err := scalarInt(c, in[0], "axis")
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(c, a, x.Rank(), "axis")
	if err != nil {
		return nil, err
	}
	num, err := c.Node.AttrInt("num_split")
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	if num <= 0 || num > max(x.Shape[axis], 1) || x.Shape[axis]%num != 0 {
		return nil, c.Errorf("cannot split dimension %d of size %d into %d equal parts", axis, x.Shape[axis], num)
	}
	sizes := make([]int, num)
	for i := range sizes {
		sizes[i] = x.Shape[axis] / num
	}
	return split(x, axis, sizes), nil
}

func splitVPlan(c *kernel.Context, sizeT, axisT *tensor.Tensor, dimAt func(int) int, rank int) (int, []int, error) {
	a, err := scalarInt(c, axisT, "axis")
	if err != nil {
		return 0, nil, err
	}
	axis, err := normAxis(c, a, rank, "axis")
	if err != nil {
		return 0, nil, err
	}
	sizes, err := intArg(c, sizeT, "size_splits")
	if err != nil {
		return 0, nil, err
	}
	n := dimAt(axis)
	infer, known := -1, 0
	for i, s := range sizes {
		switch {
		case s == -1 && infer < 0:
			infer = i
		case s < 0:
			return 0, nil, c.Errorf("size_splits %v: at most one -1 and no other negative size", sizes)
		default:
			known += s
		}
	}
	if infer >= 0 && known <= n {
		sizes[infer] = n - known
		known = n
	}
	if known != n {
		return 0, nil, c.Errorf("size_splits %v do not add up to %d, the size of dimension %d", sizes, n, axis)
	}
	return axis, sizes, nil
}

func splitVForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	axis, sizes, err := splitVPlan(c, in[1], in[2], func(d int) int { return x.Shape[d] }, x.Rank())
	if err != nil {
		return nil, err
	}
	return split(x, axis, sizes), nil
}

// splitBackward concatenates the output gradients (zeros where nil).
func splitBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	var ref *tensor.Tensor
	for _, g := range dout {
		if floatGrad(g) {
			ref = g
		}
	}
	if ref == nil {
		return grads, nil
	}
	var axis int
	var sizes []int
	var err error
	if c.Node.Op == "Split" {
		a, err := scalarInt(c, in[0], "axis")
		if err != nil {
			return nil, err
		}
		if axis, err = normAxis(c, a, ref.Rank(), "axis"); err != nil {
			return nil, err
		}
		sizes = make([]int, len(dout))
		for i := range sizes {
			sizes[i] = ref.Shape[axis]
		}
	} else {
		x := in[0]
		axis, sizes, err = splitVPlan(c, in[1], in[2], func(d int) int { return x.Shape[d] }, x.Rank())
		if err != nil {
			return nil, err
		}
	}
	shapes := make([][]int, len(dout))
	for i := range dout {
		s := append([]int(nil), ref.Shape...)
		s[axis] = sizes[i]
		shapes[i] = s
	}
	dx := concat(ref.DType, dout, shapes, axis)
	if c.Node.Op == "Split" {
		grads[1] = dx
	} else {
		grads[0] = dx
	}
	return grads, nil
}
