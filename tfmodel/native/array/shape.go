package array

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("Reshape", kernel.Def{Forward: reshapeForward, Backward: reshapeGrad, KeepInputs: []int{0}})
	kernel.Register("Squeeze", kernel.Def{Forward: squeezeForward, Backward: reshapeGrad, KeepInputs: []int{0}})
	kernel.Register("ExpandDims", kernel.Def{Forward: expandDimsForward, Backward: reshapeGrad, KeepInputs: []int{0}})
	kernel.Register("Shape", kernel.Def{Forward: shapeForward, Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("Size", kernel.Def{Forward: sizeForward, Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("Rank", kernel.Def{Forward: rankForward, Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("ZerosLike", kernel.Def{Forward: likeForward(0), Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("OnesLike", kernel.Def{Forward: likeForward(1), Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("Fill", kernel.Def{Forward: fillForward, Backward: fillBackward, KeepInputs: []int{}})
	kernel.Register("Range", kernel.Def{Forward: rangeForward, Backward: noGrad, KeepInputs: []int{}})
}

func reshapeForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if in[1].Rank() > 1 {
		return nil, c.Errorf("shape must be a vector, got shape %s", tensor.ShapeString(in[1].Shape))
	}
	shape, err := intArg(c, in[1], "shape")
	if err != nil {
		return nil, err
	}
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, c.Errorf("shape %v has more than one -1", shape)
			}
			infer = i
		case d < 0:
			return nil, c.Errorf("shape %v has negative dimension %d", shape, d)
		default:
			if d > 0 && known > tensor.MaxElements/d {
				return nil, c.Errorf("shape %v is too large", shape)
			}
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || x.Len()%known != 0 {
			return nil, c.Errorf("cannot reshape %s (%d elements) to %v: %d is not a multiple of %d",
				tensor.ShapeString(x.Shape), x.Len(), shape, x.Len(), known)
		}
		shape[infer] = x.Len() / known
	} else if known != x.Len() {
		return nil, c.Errorf("cannot reshape %s (%d elements) to %s (%d elements)",
			tensor.ShapeString(x.Shape), x.Len(), tensor.ShapeString(shape), known)
	}
	return one(reshaped(x, shape)), nil
}

func squeezeForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	dims, err := intsAttr(c.Node, "squeeze_dims")
	if err == nil && dims == nil {
		dims, err = intsAttr(c.Node, "axis")
	}
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	drop := make([]bool, x.Rank())
	if len(dims) == 0 {
		for d, n := range x.Shape {
			drop[d] = n == 1
		}
	}
	for _, d := range dims {
		a, err := normAxis(c, d, x.Rank(), "squeeze dimension")
		if err != nil {
			return nil, err
		}
		if x.Shape[a] != 1 {
			return nil, c.Errorf("cannot squeeze dimension %d of shape %s: size %d, not 1", d, tensor.ShapeString(x.Shape), x.Shape[a])
		}
		drop[a] = true
	}
	shape := []int{}
	for d, n := range x.Shape {
		if !drop[d] {
			shape = append(shape, n)
		}
	}
	return one(reshaped(x, shape)), nil
}

func expandDimsForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	d, err := scalarInt(c, in[1], "dim")
	if err != nil {
		return nil, err
	}
	a, err := normAxis(c, d, x.Rank()+1, "dim")
	if err != nil {
		return nil, err
	}
	shape := append(append(append([]int{}, x.Shape[:a]...), 1), x.Shape[a:]...)
	return one(reshaped(x, shape)), nil
}

func outType(c *kernel.Context) (tensor.DType, error) {
	if !c.Node.HasAttr("out_type") {
		return tensor.Int32, nil
	}
	dt, err := c.Node.AttrType("out_type")
	if err != nil {
		return 0, c.Errorf("%v", err)
	}
	if dt != tensor.Int32 && dt != tensor.Int64 {
		return 0, c.Errorf("out_type must be int32 or int64, got %v", dt)
	}
	return dt, nil
}

func intTensor(dt tensor.DType, v []int, shape ...int) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	for i, x := range v {
		t.SetFloat(i, float64(x))
	}
	return t
}

func shapeForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 1); err != nil {
		return nil, err
	}
	dt, err := outType(c)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Int32 {
		for _, d := range in[0].Shape {
			if d > math.MaxInt32 {
				return nil, c.Errorf("dimension %d does not fit out_type int32", d)
			}
		}
	}
	return one(intTensor(dt, in[0].Shape, in[0].Rank())), nil
}

func sizeForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 1); err != nil {
		return nil, err
	}
	dt, err := outType(c)
	if err != nil {
		return nil, err
	}
	return one(intTensor(dt, []int{in[0].Len()})), nil
}

func rankForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 1); err != nil {
		return nil, err
	}
	return one(intTensor(tensor.Int32, []int{in[0].Rank()})), nil
}

func likeForward(v float64) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := checkInputs(c, in, 1); err != nil {
			return nil, err
		}
		if in[0].DType == tensor.String {
			return nil, c.Errorf("cannot fill a string tensor")
		}
		y := tensor.NewLike(in[0])
		if v != 0 {
			for i := range y.Len() {
				y.SetFloat(i, v)
			}
		}
		return one(y), nil
	}
}

func fillForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 2); err != nil {
		return nil, err
	}
	if in[0].Rank() != 1 {
		return nil, c.Errorf("dims must be a vector, got shape %s", tensor.ShapeString(in[0].Shape))
	}
	dims, err := intArg(c, in[0], "dims")
	if err != nil {
		return nil, err
	}
	if err := tensor.CheckShape(dims); err != nil {
		return nil, c.Errorf("dims: %v", err)
	}
	v := in[1]
	if v.Len() != 1 || v.Rank() != 0 || v.DType == tensor.String {
		return nil, c.Errorf("value must be a numeric scalar, got %v%s", v.DType, tensor.ShapeString(v.Shape))
	}
	y := tensor.New(v.DType, dims...)
	f := v.Float(0)
	for i := range y.Len() {
		y.SetFloat(i, f)
	}
	return one(y), nil
}

func fillBackward(_ *kernel.Context, _, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return []*tensor.Tensor{nil, nil}, nil
	}
	var s float64
	for i := range g.Len() {
		s += g.Float(i)
	}
	return []*tensor.Tensor{nil, tensor.Scalar(g.DType, s)}, nil
}

func rangeForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 3); err != nil {
		return nil, err
	}
	for i, x := range in {
		if x.Len() != 1 || x.DType == tensor.String || x.DType == tensor.Bool {
			return nil, c.Errorf("input %d must be a numeric scalar, got %v%s", i, x.DType, tensor.ShapeString(x.Shape))
		}
	}
	start, limit, delta := in[0].Float(0), in[1].Float(0), in[2].Float(0)
	if delta == 0 {
		return nil, c.Errorf("delta must not be zero")
	}
	if (delta > 0 && start > limit) || (delta < 0 && start < limit) {
		return nil, c.Errorf("start %g, limit %g and delta %g give an empty or inverted range", start, limit, delta)
	}
	var n float64
	if in[0].DType.IsInt() {
		n = math.Ceil(math.Abs(limit-start) / math.Abs(delta))
	} else {
		n = math.Ceil(math.Abs((limit - start) / delta))
	}
	if n > tensor.MaxElements {
		return nil, c.Errorf("range of %g elements is too large", n)
	}
	y := tensor.New(in[0].DType, int(n))
	for i := range int(n) {
		y.SetFloat(i, start+float64(i)*delta)
	}
	return one(y), nil
}
