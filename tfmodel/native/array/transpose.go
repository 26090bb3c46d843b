package array

import (
	"github.com/tbviz/tbviz/tfmodel/native/array/strided"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("Transpose", kernel.Def{Forward: transposeForward, Backward: transposeBackward, KeepInputs: []int{1}})
	kernel.Register("Tile", kernel.Def{Forward: tileForward, Backward: tileBackward, KeepInputs: []int{1}})
}

func permArg(c *kernel.Context, p *tensor.Tensor, r int) ([]int, error) {
	perm, err := intArg(c, p, "perm")
	if err != nil {
		return nil, err
	}
	if len(perm) != r || p.Rank() != 1 {
		return nil, c.Errorf("perm %v is not a permutation of %d dimensions", perm, r)
	}
	seen := make([]bool, r)
	for i, a := range perm {
		if a < 0 || a >= r || seen[a] {
			return nil, c.Errorf("perm %v is not a permutation of %d dimensions", perm, r)
		}
		seen[a] = true
		perm[i] = a
	}
	return perm, nil
}

func transposeForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 2); err != nil {
		return nil, err
	}
	perm, err := permArg(c, in[1], in[0].Rank())
	if err != nil {
		return nil, err
	}
	return one(strided.Permute(in[0], perm)), nil
}

func transposeBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return []*tensor.Tensor{nil, nil}, nil
	}
	perm, err := permArg(c, in[1], g.Rank())
	if err != nil {
		return nil, err
	}
	inv := make([]int, len(perm))
	for i, p := range perm {
		inv[p] = i
	}
	return []*tensor.Tensor{strided.Permute(g, inv), nil}, nil
}

// tilePlan returns the tiled shape and the tables reading the input.
func tilePlan(c *kernel.Context, in []int, mult *tensor.Tensor) ([]int, [][]int, error) {
	m, err := intArg(c, mult, "multiples")
	if err != nil {
		return nil, nil, err
	}
	if len(m) != len(in) {
		return nil, nil, c.Errorf("multiples %v must have one entry per dimension of the rank-%d input", m, len(in))
	}
	out := make([]int, len(in))
	for d, k := range m {
		if k < 0 {
			return nil, nil, c.Errorf("multiples %v has a negative entry", m)
		}
		if in[d] > 0 && k > tensor.MaxElements/in[d] {
			return nil, nil, c.Errorf("multiples %v: tiled dimension %d is too large", m, d)
		}
		out[d] = in[d] * k
	}
	if err := tensor.CheckShape(out); err != nil {
		return nil, nil, c.Errorf("tiled shape: %v", err)
	}
	st := strided.Strides(in)
	tables := make([][]int, len(in))
	for d := range in {
		t := make([]int, out[d])
		for o := range t {
			t[o] = (o % in[d]) * st[d]
		}
		tables[d] = t
	}
	return out, tables, nil
}

func tileForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 2); err != nil {
		return nil, err
	}
	out, tables, err := tilePlan(c, in[0].Shape, in[1])
	if err != nil {
		return nil, err
	}
	return one(strided.Gather(in[0], out, tables, 0)), nil
}

func tileBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return []*tensor.Tensor{nil, nil}, nil
	}
	m, err := intArg(c, in[1], "multiples")
	if err != nil {
		return nil, err
	}
	if len(m) != g.Rank() {
		return nil, c.Errorf("multiples %v do not match the gradient's rank %d", m, g.Rank())
	}
	shape := make([]int, len(m))
	for d, k := range m {
		if k == 0 {
			// The output is empty; the input's size along d is unknown
			// but its gradient is zero. TensorFlow needs the input too.
			return nil, c.Errorf("gradient of a Tile with a zero multiple is not supported")
		}
		shape[d] = g.Shape[d] / k
	}
	_, tables, err := tilePlan(c, shape, in[1])
	if err != nil {
		return nil, err
	}
	dx := tensor.New(g.DType, shape...)
	strided.Scatter(dx, g, tables, strided.Sum)
	return []*tensor.Tensor{dx, nil}, nil
}
