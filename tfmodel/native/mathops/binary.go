package mathops

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/array/strided"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/native/parallel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

type binOp uint8

const (
	binAdd binOp = iota
	binSub
	binMul
	binDiv
	binMax
	binMin
	binSqDiff
	binPow
)

func init() {
	for op, b := range map[string]binOp{
		"AddV2": binAdd, "Add": binAdd, "Sub": binSub, "Mul": binMul,
		"RealDiv": binDiv, "Div": binDiv, "Maximum": binMax, "Minimum": binMin,
		"SquaredDifference": binSqDiff, "Pow": binPow,
	} {
		kernel.Register(op, kernel.Def{
			Forward:    binaryForward(b),
			Backward:   binaryBackward(b),
			KeepInputs: []int{0, 1},
		})
	}
}

func binaryForward(op binOp) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := checkInputs(c, in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if a.DType != b.DType {
			return nil, c.Errorf("operands have different types %v and %v", a.DType, b.DType)
		}
		if a.DType == tensor.Int32 || a.DType == tensor.Int64 {
			return intBinary(c, op, a, b)
		}
		if err := checkFloat(c, a, "operand"); err != nil {
			return nil, err
		}
		z, err := binary(c, op, a, b)
		if err != nil {
			return nil, c.Errorf("%v", err)
		}
		return []*tensor.Tensor{z}, nil
	}
}

// binary computes a op b with broadcasting, for float tensors of one dtype.
// The result comes from c.Output (a recycled buffer in the engine; c may be
// nil).
func binary(c *kernel.Context, op binOp, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	if err := tensor.CheckShape(shape); err != nil {
		return nil, err
	}
	z := c.Output(a.DType, shape...)
	if a.DType == tensor.Float32 {
		err = binaryT(op, z.F32, a.F32, b.F32, a.Shape, b.Shape, shape)
	} else {
		err = binaryT(op, z.F64, a.F64, b.F64, a.Shape, b.Shape, shape)
	}
	return z, err
}

func binFunc[T tensor.Float](op binOp) func(x, y T) T {
	switch op {
	case binAdd:
		return func(x, y T) T { return x + y }
	case binSub:
		return func(x, y T) T { return x - y }
	case binMul:
		return func(x, y T) T { return x * y }
	case binDiv:
		return func(x, y T) T { return x / y }
	case binMax:
		return func(x, y T) T {
			if x >= y || x != x {
				return x
			}
			return y
		}
	case binMin:
		return func(x, y T) T {
			if x <= y || x != x {
				return x
			}
			return y
		}
	case binSqDiff:
		return func(x, y T) T { return (x - y) * (x - y) }
	default:
		return func(x, y T) T { return T(math.Pow(float64(x), float64(y))) }
	}
}

// binRow computes dst[j] = a[j*sa] op b[j*sb] for one innermost row; sa
// and sb are 0 (broadcast) or 1.
func binRow[T tensor.Float](op binOp, dst, a []T, sa int, b []T, sb int) {
	n := len(dst)
	if sa == 1 {
		a = a[:n]
	}
	if sb == 1 {
		b = b[:n]
	}
	switch {
	case op == binAdd && sa == 1 && sb == 1:
		for j := range dst {
			dst[j] = a[j] + b[j]
		}
	case op == binAdd && sa == 1 && sb == 0:
		y := b[0]
		for j := range dst {
			dst[j] = a[j] + y
		}
	case op == binSub && sa == 1 && sb == 1:
		for j := range dst {
			dst[j] = a[j] - b[j]
		}
	case op == binSub && sa == 1 && sb == 0:
		y := b[0]
		for j := range dst {
			dst[j] = a[j] - y
		}
	case op == binMul && sa == 1 && sb == 1:
		for j := range dst {
			dst[j] = a[j] * b[j]
		}
	case op == binMul && sa == 1 && sb == 0:
		y := b[0]
		for j := range dst {
			dst[j] = a[j] * y
		}
	case op == binMul && sa == 0 && sb == 1:
		x := a[0]
		for j := range dst {
			dst[j] = x * b[j]
		}
	case op == binDiv && sa == 1 && sb == 1:
		for j := range dst {
			dst[j] = a[j] / b[j]
		}
	default:
		f := binFunc[T](op)
		for j := range dst {
			dst[j] = f(a[j*sa], b[j*sb])
		}
	}
}

// bcastRows iterates over the innermost rows of shape, giving the output
// offset o and the base offsets of a and b (read through tables ta, tb)
// and their innermost strides (0 or 1).
func bcastRows(shape []int, ta, tb [][]int, f func(o, n, ba, sa, bb, sb int)) {
	r := len(shape)
	if r == 0 {
		f(0, 1, 0, 0, 0, 0)
		return
	}
	total := tensor.NumElements(shape)
	if total == 0 {
		return
	}
	n := shape[r-1]
	sa, sb := 0, 0
	if n > 1 && ta[r-1][1] == 1 {
		sa = 1
	}
	if n > 1 && tb[r-1][1] == 1 {
		sb = 1
	}
	idx := make([]int, r-1)
	for o := 0; o < total; o += n {
		ba, bb := 0, 0
		for d, i := range idx {
			ba += ta[d][i]
			bb += tb[d][i]
		}
		f(o, n, ba, sa, bb, sb)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// parallelMin is the fewest elements per worker worth splitting a
// contiguous element-wise loop for: below it the hand-off costs more than
// the loop (a residual add of MobileNetV2 is 100k elements per image).
const parallelMin = 1 << 15

// binaryT writes a op b into z (len(z) elements of shape, every one
// written). Operands of one shape, or one of them a scalar, run as one
// contiguous loop split among the workers; other broadcasts go row by row.
func binaryT[T tensor.Float](op binOp, z, a, b []T, as, bs, shape []int) error {
	sa, sb := 1, 1
	switch {
	case tensor.SameShape(as, bs):
	case len(b) == 1:
		sb = 0
	case len(a) == 1:
		sa = 0
	default:
		return binaryBroadcast(op, z, a, b, as, bs, shape)
	}
	parallel.For(len(z), parallelMin, func(lo, hi int) {
		binRow(op, z[lo:hi], a[lo*sa:], sa, b[lo*sb:], sb)
	})
	return nil
}

// binaryBroadcast is binaryT for operands broadcast along some axes, one
// innermost row at a time.
func binaryBroadcast[T tensor.Float](op binOp, z, a, b []T, as, bs, shape []int) error {
	ta, err := strided.BroadcastTables(as, shape)
	if err != nil {
		return err
	}
	tb, err := strided.BroadcastTables(bs, shape)
	if err != nil {
		return err
	}
	bcastRows(shape, ta, tb, func(o, n, ba, sa, bb, sb int) {
		binRow(op, z[o:o+n], a[ba:], sa, b[bb:], sb)
	})
	return nil
}

// SumToShape reduces g (a gradient of a broadcast result) to shape by
// summing over the broadcast axes, as the backward pass of every
// broadcasting op must. g is returned unchanged when it has that shape.
func SumToShape(g *tensor.Tensor, shape []int) (*tensor.Tensor, error) {
	if tensor.SameShape(g.Shape, shape) {
		return g, nil
	}
	tables, err := strided.BroadcastTables(shape, g.Shape)
	if err != nil {
		return nil, err
	}
	dst := tensor.New(g.DType, shape...)
	strided.Scatter(dst, g, tables, strided.Sum)
	return dst, nil
}

func binaryBackward(op binOp) kernel.BackwardFunc {
	return func(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		g := dout[0]
		if g == nil {
			return []*tensor.Tensor{nil, nil}, nil
		}
		a, b := in[0], in[1]
		if !a.DType.IsFloat() || g.DType != a.DType {
			return []*tensor.Tensor{nil, nil}, nil // integer arithmetic has no gradient
		}
		var ga, gb *tensor.Tensor
		if a.DType == tensor.Float32 {
			ga, gb = binaryGradT(op, a, b, g, tensor.Data[float32])
		} else {
			ga, gb = binaryGradT(op, a, b, g, tensor.Data[float64])
		}
		var err error
		if ga, err = SumToShape(ga, a.Shape); err != nil {
			return nil, c.Errorf("gradient: %v", err)
		}
		if gb, err = SumToShape(gb, b.Shape); err != nil {
			return nil, c.Errorf("gradient: %v", err)
		}
		return []*tensor.Tensor{ga, gb}, nil
	}
}

// binaryGradT returns the gradients of a op b w.r.t. a and b at the
// broadcast (output) shape.
func binaryGradT[T tensor.Float](op binOp, a, b, g *tensor.Tensor, data func(*tensor.Tensor) []T) (*tensor.Tensor, *tensor.Tensor) {
	shape := g.Shape
	gv := data(g)
	ga := tensor.New(g.DType, shape...)
	gb := tensor.New(g.DType, shape...)
	gav, gbv := data(ga), data(gb)
	av, bv := data(a), data(b)
	ta, _ := strided.BroadcastTables(a.Shape, shape)
	tb, _ := strided.BroadcastTables(b.Shape, shape)
	bcastRows(shape, ta, tb, func(o, n, ba, sa, bb, sb int) {
		for j := range n {
			x, y, d := av[ba+j*sa], bv[bb+j*sb], gv[o+j]
			var dx, dy T
			switch op {
			case binAdd:
				dx, dy = d, d
			case binSub:
				dx, dy = d, -d
			case binMul:
				dx, dy = d*y, d*x
			case binDiv:
				dx = d / y
				dy = -dx * x / y
			case binMax:
				if x >= y {
					dx = d
				} else {
					dy = d
				}
			case binMin:
				if x <= y {
					dx = d
				} else {
					dy = d
				}
			case binSqDiff:
				dx = 2 * (x - y) * d
				dy = -dx
			case binPow:
				fx, fy := float64(x), float64(y)
				dx = d * T(fy*math.Pow(fx, fy-1))
				if fx > 0 {
					dy = d * T(math.Pow(fx, fy)*math.Log(fx))
				}
			}
			gav[o+j], gbv[o+j] = dx, dy
		}
	})
	return ga, gb
}

// intBinary evaluates a binary op on int32/int64 operands (shape
// arithmetic) through float64, which is exact below 2^53; integer Div
// truncates toward zero like C. Integer results have no gradient.
func intBinary(c *kernel.Context, op binOp, a, b *tensor.Tensor) ([]*tensor.Tensor, error) {
	if op == binPow || op == binSqDiff || (op == binDiv && c.Node.Op == "RealDiv") {
		return nil, c.Errorf("%v operands are not supported by %s", a.DType, c.Node.Op)
	}
	af, _ := a.Cast(tensor.Float64)
	bf, _ := b.Cast(tensor.Float64)
	if op == binDiv {
		for _, v := range bf.F64 {
			if v == 0 {
				return nil, c.Errorf("integer division by zero")
			}
		}
	}
	z, err := binary(nil, op, af, bf)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	if op == binDiv {
		for i, v := range z.F64 {
			z.F64[i] = math.Trunc(v)
		}
	}
	zi, err := z.Cast(a.DType)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	return []*tensor.Tensor{zi}, nil
}
