package nn

import (
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	for _, op := range []string{"BiasAdd", "BiasAddV1"} {
		kernel.Register(op, kernel.Def{
			Forward:    biasAddKernelForward,
			Backward:   biasAddKernelBackward,
			KeepInputs: []int{},
			Check:      func(n *graph.Node) error { return checkNHWC(n) },
		})
	}
}

// addBias adds b[i % len(b)] to each v[i] (bias along the last axis).
func addBias[T tensor.Float](v, b []T) {
	k := len(b)
	for r := 0; r+k <= len(v); r += k {
		row := v[r : r+k]
		for j := range row {
			row[j] += b[j]
		}
	}
}

// sumBias adds to db the sums of g over all but the last axis.
func sumBias[T tensor.Float](g, db []T) {
	k := len(db)
	for r := 0; r+k <= len(g); r += k {
		row := g[r : r+k]
		for j, v := range row {
			db[j] += v
		}
	}
}

func biasAddKernelForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkNHWC(c.Node); err != nil {
		return nil, err
	}
	if len(in) != 2 || in[0] == nil || in[1] == nil {
		return nil, c.Errorf("want 2 inputs (value, bias), got %d", len(in))
	}
	x, b := in[0], in[1]
	if !x.DType.IsFloat() || b.DType != x.DType {
		return nil, c.Errorf("value is %v and bias %v; want the same float type", x.DType, b.DType)
	}
	if x.Rank() < 2 {
		return nil, c.Errorf("value has shape %s; want rank >= 2", tensor.ShapeString(x.Shape))
	}
	if b.Rank() != 1 || b.Shape[0] != x.Dim(-1) {
		return nil, c.Errorf("bias has shape %s; want (%d,) to match the last dimension of value %s", tensor.ShapeString(b.Shape), x.Dim(-1), tensor.ShapeString(x.Shape))
	}
	y := x.Clone()
	if y.DType == tensor.Float32 {
		addBias(y.F32, b.F32)
	} else {
		addBias(y.F64, b.F64)
	}
	return []*tensor.Tensor{y}, nil
}

func biasAddKernelBackward(c *kernel.Context, _, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(dout) != 1 {
		return nil, c.Errorf("backward wants 1 output gradient")
	}
	dy := dout[0]
	if dy == nil {
		return []*tensor.Tensor{nil, nil}, nil
	}
	if !dy.DType.IsFloat() || dy.Rank() < 2 {
		return nil, c.Errorf("upstream gradient is %v%s; want a float tensor of rank >= 2", dy.DType, tensor.ShapeString(dy.Shape))
	}
	db := tensor.New(dy.DType, dy.Dim(-1))
	if dy.DType == tensor.Float32 {
		sumBias(dy.F32, db.F32)
	} else {
		sumBias(dy.F64, db.F64)
	}
	return []*tensor.Tensor{dy.Clone(), db}, nil
}
