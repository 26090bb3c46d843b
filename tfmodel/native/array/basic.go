package array

import (
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func valueForward(c *kernel.Context, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if c.Node.Value == nil {
		return nil, c.Errorf("constant has no value")
	}
	return one(c.Node.Value), nil
}

func variableForward(c *kernel.Context, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if c.Node.Value == nil {
		name := c.Node.VarKey
		if name == "" {
			name, _ = stringAttr(c.Node, "shared_name", "")
		}
		if name == "" {
			name = c.Node.Name
		}
		return nil, c.Errorf("variable %q is not bound to a value (missing from the checkpoint?)", name)
	}
	return one(c.Node.Value), nil
}

func identityForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, c.Errorf("expected 1 input")
	}
	return one(in[0]), nil
}

func init() {
	kernel.Register("Const", kernel.Def{Forward: valueForward})
	kernel.Register("Placeholder", kernel.Def{
		Forward: func(c *kernel.Context, _ []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return nil, c.Errorf("placeholder must be fed a value")
		},
	})
	kernel.Register("VarHandleOp", kernel.Def{Forward: variableForward})
	kernel.Register("VariableV2", kernel.Def{Forward: variableForward})
	kernel.Register("ReadVariableOp", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if c.Node.Value != nil {
				return one(c.Node.Value), nil
			}
			if len(in) != 1 || in[0] == nil {
				return nil, c.Errorf("variable read has neither a bound value nor an input")
			}
			return one(in[0]), nil
		},
		Backward:   passThrough,
		KeepInputs: []int{},
	})
	for _, op := range []string{"Identity", "PlaceholderWithDefault", "Snapshot"} {
		kernel.Register(op, kernel.Def{Forward: identityForward, Backward: passThrough, KeepInputs: []int{}})
	}
	kernel.Register("IdentityN", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			for i, x := range in {
				if x == nil {
					return nil, c.Errorf("input %d is missing", i)
				}
			}
			return append([]*tensor.Tensor(nil), in...), nil
		},
		Backward:   passThrough,
		KeepInputs: []int{},
	})
	// StopGradient passes values and blocks gradients: its backward
	// returns a nil (zero) gradient.
	kernel.Register("StopGradient", kernel.Def{Forward: identityForward, Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("PreventGradient", kernel.Def{Forward: identityForward, Backward: noGrad, KeepInputs: []int{}})
	kernel.Register("NoOp", kernel.Def{
		Forward: func(*kernel.Context, []*tensor.Tensor) ([]*tensor.Tensor, error) { return nil, nil },
	})
}
