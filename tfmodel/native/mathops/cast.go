package mathops

import (
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("Cast", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if err := checkInputs(c, in, 1); err != nil {
				return nil, err
			}
			dst, err := c.Node.AttrType("DstT")
			if err != nil {
				return nil, c.Errorf("%v", err)
			}
			if c.Node.HasAttr("SrcT") {
				src, err := c.Node.AttrType("SrcT")
				if err != nil {
					return nil, c.Errorf("%v", err)
				}
				if src != in[0].DType {
					return nil, c.Errorf("input is %v, SrcT says %v", in[0].DType, src)
				}
			}
			y, err := in[0].Cast(dst)
			if err != nil {
				return nil, c.Errorf("%v", err)
			}
			return []*tensor.Tensor{y}, nil
		},
		// Float-to-float casts pass the gradient through (cast back);
		// casts to or from integers and bools have none.
		Backward: func(c *kernel.Context, _, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			g := dout[0]
			if g == nil || !g.DType.IsFloat() {
				return []*tensor.Tensor{nil}, nil
			}
			src, err := c.Node.AttrType("SrcT")
			if err != nil {
				return nil, c.Errorf("gradient needs the source type: %v", err)
			}
			if !src.IsFloat() {
				return []*tensor.Tensor{nil}, nil
			}
			dx, err := g.Cast(src)
			if err != nil {
				return nil, c.Errorf("%v", err)
			}
			return []*tensor.Tensor{dx}, nil
		},
		KeepInputs: []int{},
	})
}
