package mathops

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/array/strided"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	for op, r := range map[string]strided.Op{
		"Sum": strided.Sum, "Mean": strided.Sum, "Max": strided.Max, "Min": strided.Min, "Prod": strided.Prod,
	} {
		kernel.Register(op, kernel.Def{
			Forward:    reduceForward(op, r),
			Backward:   reduceBackward(op, r),
			KeepInputs: []int{0, 1},
		})
	}
}

// reducePlan is the geometry of one reduction.
type reducePlan struct {
	kept   []int   // output shape with reduced axes kept as 1
	out    []int   // output shape as the op returns it
	tables [][]int // x index -> offset in the kept-dims output
	count  int     // number of elements reduced into each output
}

func planReduce(c *kernel.Context, x, axes *tensor.Tensor) (*reducePlan, error) {
	red, err := normAxes(c, axes, x.Rank())
	if err != nil {
		return nil, err
	}
	keep, err := boolAttr(c.Node, "keep_dims", false)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	p := &reducePlan{count: 1}
	for d, n := range x.Shape {
		if red[d] {
			p.kept = append(p.kept, 1)
			p.count *= n
			if keep {
				p.out = append(p.out, 1)
			}
		} else {
			p.kept = append(p.kept, n)
			p.out = append(p.out, n)
		}
	}
	p.tables, err = strided.BroadcastTables(p.kept, x.Shape)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	return p, nil
}

func reduceInit(r strided.Op) float64 {
	switch r {
	case strided.Max:
		return math.Inf(-1)
	case strided.Min:
		return math.Inf(1)
	case strided.Prod:
		return 1
	}
	return 0
}

func fillTensor(t *tensor.Tensor, v float64) {
	if t.DType == tensor.Float32 {
		for i := range t.F32 {
			t.F32[i] = float32(v)
		}
		return
	}
	for i := range t.F64 {
		t.F64[i] = v
	}
}

func reduceForward(op string, r strided.Op) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := checkInputs(c, in, 2); err != nil {
			return nil, err
		}
		x := in[0]
		if x.DType == tensor.String || x.DType == tensor.Bool {
			return nil, c.Errorf("cannot reduce a %v tensor", x.DType)
		}
		p, err := planReduce(c, x, in[1])
		if err != nil {
			return nil, err
		}
		xf := x
		if !x.DType.IsFloat() {
			xf, _ = x.Cast(tensor.Float64)
		}
		y := tensor.New(xf.DType, p.kept...)
		fillTensor(y, reduceInit(r))
		strided.Scatter(y, xf, p.tables, r)
		if op == "Mean" {
			for i := range y.Len() {
				y.SetFloat(i, y.Float(i)/float64(p.count))
			}
		}
		if !x.DType.IsFloat() {
			if y, err = y.Cast(x.DType); err != nil {
				return nil, c.Errorf("%v", err)
			}
		}
		y.Shape = p.out
		return []*tensor.Tensor{y}, nil
	}
}

func reduceBackward(op string, r strided.Op) kernel.BackwardFunc {
	return func(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		g := dout[0]
		if g == nil {
			return []*tensor.Tensor{nil, nil}, nil
		}
		x := in[0]
		if !x.DType.IsFloat() {
			return nil, c.Errorf("no gradient for a %v reduction", x.DType)
		}
		p, err := planReduce(c, x, in[1])
		if err != nil {
			return nil, err
		}
		gk, err := g.Reshaped(p.kept...)
		if err != nil {
			return nil, c.Errorf("gradient: %v", err)
		}
		var dx *tensor.Tensor
		switch r {
		case strided.Sum:
			dx = strided.Gather(gk, x.Shape, p.tables, 0)
			if op == "Mean" {
				for i := range dx.Len() {
					dx.SetFloat(i, dx.Float(i)/float64(p.count))
				}
			}
		case strided.Max, strided.Min:
			dx = extremumGrad(x, gk, p, r)
		case strided.Prod:
			dx = prodGrad(x, gk, p)
		}
		return []*tensor.Tensor{dx, nil}, nil
	}
}

// extremumGrad routes the gradient to the elements equal to the extremum,
// split evenly between ties (TensorFlow's _MinOrMaxGrad).
func extremumGrad(x, gk *tensor.Tensor, p *reducePlan, r strided.Op) *tensor.Tensor {
	y := tensor.New(x.DType, p.kept...)
	fillTensor(y, reduceInit(r))
	strided.Scatter(y, x, p.tables, r)
	yb := strided.Gather(y, x.Shape, p.tables, 0)
	ind := tensor.NewLike(x)
	for i := range x.Len() {
		if x.Float(i) == yb.Float(i) {
			ind.SetFloat(i, 1)
		}
	}
	cnt := tensor.New(x.DType, p.kept...)
	strided.Scatter(cnt, ind, p.tables, strided.Sum)
	share := tensor.New(x.DType, p.kept...)
	for i := range share.Len() {
		share.SetFloat(i, gk.Float(i)/cnt.Float(i))
	}
	sb := strided.Gather(share, x.Shape, p.tables, 0)
	for i := range ind.Len() {
		ind.SetFloat(i, ind.Float(i)*sb.Float(i))
	}
	return ind
}

// prodGrad computes d prod / dx_i = prod_{j != i} x_j without dividing by
// zero: per group it counts the zeros and multiplies the non-zeros.
func prodGrad(x, gk *tensor.Tensor, p *reducePlan) *tensor.Tensor {
	nz := tensor.NewLike(x)
	isz := tensor.NewLike(x)
	for i := range x.Len() {
		if v := x.Float(i); v == 0 {
			nz.SetFloat(i, 1)
			isz.SetFloat(i, 1)
		} else {
			nz.SetFloat(i, v)
		}
	}
	pnz := tensor.New(x.DType, p.kept...)
	fillTensor(pnz, 1)
	strided.Scatter(pnz, nz, p.tables, strided.Prod)
	zc := tensor.New(x.DType, p.kept...)
	strided.Scatter(zc, isz, p.tables, strided.Sum)
	pb := strided.Gather(pnz, x.Shape, p.tables, 0)
	zb := strided.Gather(zc, x.Shape, p.tables, 0)
	gb := strided.Gather(gk, x.Shape, p.tables, 0)
	dx := tensor.NewLike(x)
	for i := range x.Len() {
		v := x.Float(i)
		var d float64
		switch zb.Float(i) {
		case 0:
			d = pb.Float(i) / v
		case 1:
			if v == 0 {
				d = pb.Float(i)
			}
		}
		dx.SetFloat(i, d*gb.Float(i))
	}
	return dx
}
