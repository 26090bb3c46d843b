package array

import (
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

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

func intAttr(n *graph.Node, name string, def int) (int, error) {
	if !n.HasAttr(name) {
		return def, nil
	}
	return n.AttrInt(name)
}

func intsAttr(n *graph.Node, name string) ([]int, error) {
	if !n.HasAttr(name) {
		return nil, nil
	}
	return n.AttrInts(name)
}

func stringAttr(n *graph.Node, name, def string) (string, error) {
	if !n.HasAttr(name) {
		return def, nil
	}
	return n.AttrString(name)
}

// intArg reads a shape-plumbing input (int32/int64) as ints.
func intArg(c *kernel.Context, t *tensor.Tensor, what string) ([]int, error) {
	v, err := t.Ints()
	if err != nil {
		return nil, c.Errorf("%s: %v", what, err)
	}
	return v, nil
}

// scalarInt reads a scalar (or one-element) integer input.
func scalarInt(c *kernel.Context, t *tensor.Tensor, what string) (int, error) {
	v, err := intArg(c, t, what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 || t.Rank() > 1 {
		return 0, c.Errorf("%s: expected a scalar, got shape %s", what, tensor.ShapeString(t.Shape))
	}
	return v[0], nil
}

// normAxis maps axis in [-r, r) to [0, r).
func normAxis(c *kernel.Context, axis, r int, what string) (int, error) {
	if axis < -r || axis >= r {
		return 0, c.Errorf("%s %d out of range for rank %d", what, axis, r)
	}
	if axis < 0 {
		axis += r
	}
	return axis, nil
}

// reshaped returns t with a new shape, sharing its data.
func reshaped(t *tensor.Tensor, shape []int) *tensor.Tensor {
	c := *t
	c.Shape = append([]int(nil), shape...)
	return &c
}

// floatGrad reports whether a gradient of type dt is meaningful.
func floatGrad(g *tensor.Tensor) bool { return g != nil && g.DType.IsFloat() }

func one(t *tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{t} }

// passThrough is the backward of identity-like ops: the gradient of output
// i goes to input i; extra inputs get nil.
func passThrough(_ *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	copy(g, dout)
	return g, nil
}

// noGrad is the backward of ops whose outputs do not depend differentiably
// on their inputs (shapes, constants built from shapes).
func noGrad(_ *kernel.Context, in, _, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// reshapeGrad reshapes the gradient to the shape of input 0.
func reshapeGrad(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := make([]*tensor.Tensor, len(in))
	if dout[0] != nil {
		if dout[0].Len() != in[0].Len() {
			return nil, c.Errorf("gradient has %d elements, input has %d", dout[0].Len(), in[0].Len())
		}
		g[0] = reshaped(dout[0], in[0].Shape)
	}
	return g, nil
}
