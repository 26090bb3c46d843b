package array

import (
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("GatherV2", kernel.Def{Forward: gatherForward, Backward: gatherBackward})
}

type gatherPlan struct {
	outer, n, inner int
	idx             []int
	out             []int
}

func gatherPlanOf(c *kernel.Context, params, indices, axisT *tensor.Tensor) (*gatherPlan, error) {
	if bd, err := intAttr(c.Node, "batch_dims", 0); err != nil || bd != 0 {
		return nil, c.Errorf("batch_dims %d is not supported (only 0)", bd)
	}
	a, err := scalarInt(c, axisT, "axis")
	if err != nil {
		return nil, err
	}
	if params.Rank() == 0 {
		return nil, c.Errorf("params must have rank >= 1")
	}
	axis, err := normAxis(c, a, params.Rank(), "axis")
	if err != nil {
		return nil, err
	}
	idx, err := intArg(c, indices, "indices")
	if err != nil {
		return nil, err
	}
	n := params.Shape[axis]
	for i, v := range idx {
		if v < 0 || v >= n {
			return nil, c.Errorf("indices[%d] = %d is not in [0, %d)", i, v, n)
		}
	}
	p := &gatherPlan{
		outer: tensor.NumElements(params.Shape[:axis]), n: n,
		inner: tensor.NumElements(params.Shape[axis+1:]), idx: idx,
	}
	p.out = append(append(append([]int{}, params.Shape[:axis]...), indices.Shape...), params.Shape[axis+1:]...)
	if err := tensor.CheckShape(p.out); err != nil {
		return nil, c.Errorf("%v", err)
	}
	return p, nil
}

func gatherForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 3); err != nil {
		return nil, err
	}
	params := in[0]
	p, err := gatherPlanOf(c, params, in[1], in[2])
	if err != nil {
		return nil, err
	}
	y := tensor.New(params.DType, p.out...)
	k := len(p.idx)
	for o := range p.outer {
		for j, v := range p.idx {
			blockCopy(y, params, 1, p.inner, 0, (o*k+j)*p.inner, 0, (o*p.n+v)*p.inner)
		}
	}
	return one(y), nil
}

func gatherBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return make([]*tensor.Tensor, 3), nil
	}
	params := in[0]
	p, err := gatherPlanOf(c, params, in[1], in[2])
	if err != nil {
		return nil, err
	}
	dx := tensor.New(g.DType, params.Shape...)
	k := len(p.idx)
	for o := range p.outer {
		for j, v := range p.idx {
			src, dst := (o*k+j)*p.inner, (o*p.n+v)*p.inner
			for i := range p.inner {
				dx.SetFloat(dst+i, dx.Float(dst+i)+g.Float(src+i))
			}
		}
	}
	return []*tensor.Tensor{dx, nil, nil}, nil
}
