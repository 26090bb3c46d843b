package mathops

import (
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// boolAttr returns a bool attribute, or def when the node lacks it.
func boolAttr(n *graph.Node, name string, def bool) (bool, error) {
	if !n.HasAttr(name) {
		return def, nil
	}
	return n.AttrBool(name)
}

// checkInputs verifies the number of inputs.
func checkInputs(c *kernel.Context, in []*tensor.Tensor, want int) error {
	if len(in) != want {
		return c.Errorf("expected %d inputs, got %d", want, len(in))
	}
	for i, x := range in {
		if x == nil {
			return c.Errorf("input %d is missing", i)
		}
	}
	return nil
}

// checkFloat verifies that x is float32 or float64.
func checkFloat(c *kernel.Context, x *tensor.Tensor, what string) error {
	if !x.DType.IsFloat() {
		return c.Errorf("%s: expected float32 or float64, got %v", what, x.DType)
	}
	return nil
}

// BroadcastShape returns the NumPy/TensorFlow broadcast of shapes a and b,
// or an error naming both shapes when they are incompatible.
func BroadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if k := i - (n - len(a)); k >= 0 {
			da = a[k]
		}
		if k := i - (n - len(b)); k >= 0 {
			db = b[k]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("incompatible shapes for broadcasting: %s and %s", tensor.ShapeString(a), tensor.ShapeString(b))
		}
	}
	return out, nil
}

// normAxes converts an axes tensor (int32/int64 scalar or vector) to a set
// of non-negative axes of a rank-r tensor.
func normAxes(c *kernel.Context, axes *tensor.Tensor, r int) ([]bool, error) {
	if axes.Rank() > 1 {
		return nil, c.Errorf("reduction axes must be a scalar or vector, got shape %s", tensor.ShapeString(axes.Shape))
	}
	ax, err := axes.Ints()
	if err != nil {
		return nil, c.Errorf("reduction axes: %v", err)
	}
	red := make([]bool, r)
	for _, a := range ax {
		if a < -r || a >= r {
			return nil, c.Errorf("reduction axis %d out of range for a rank-%d input", a, r)
		}
		if a < 0 {
			a += r
		}
		red[a] = true
	}
	return red, nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
