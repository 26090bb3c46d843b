package native

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Test-only kernels, registered under op names no real graph uses. They
// are written with the generic Float/SetFloat accessors, so they work in
// float32 and float64 alike.

// testCancel is called by the TestCancel kernel (set by the cancellation
// test).
var testCancel atomic.Pointer[func()]

func elementwise(a, b *tensor.Tensor, f func(x, y float64) float64) (*tensor.Tensor, error) {
	if !tensor.SameShape(a.Shape, b.Shape) || a.DType != b.DType {
		return nil, fmt.Errorf("operands %v%s and %v%s differ", a.DType, tensor.ShapeString(a.Shape), b.DType, tensor.ShapeString(b.Shape))
	}
	out := tensor.NewLike(a)
	for i := range out.Len() {
		out.SetFloat(i, f(a.Float(i), b.Float(i)))
	}
	return out, nil
}

func mapT(a *tensor.Tensor, f func(x float64) float64) *tensor.Tensor {
	out := tensor.NewLike(a)
	for i := range out.Len() {
		out.SetFloat(i, f(a.Float(i)))
	}
	return out
}

func init() {
	kernel.Register("TestAdd", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			o, err := elementwise(in[0], in[1], func(x, y float64) float64 { return x + y })
			return []*tensor.Tensor{o}, err
		},
		// Returns the upstream gradient itself for both inputs: the
		// engine must not add into it in place.
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if in[0] != nil || in[1] != nil {
				return nil, errors.New("TestAdd keeps no inputs but got some")
			}
			return []*tensor.Tensor{dout[0], dout[0]}, nil
		},
		KeepInputs: []int{},
	})
	kernel.Register("TestMul", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			o, err := elementwise(in[0], in[1], func(x, y float64) float64 { return x * y })
			return []*tensor.Tensor{o}, err
		},
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			da, _ := elementwise(dout[0], in[1], func(g, y float64) float64 { return g * y })
			db, _ := elementwise(dout[0], in[0], func(g, x float64) float64 { return g * x })
			return []*tensor.Tensor{da, db}, nil
		},
	})
	// TestExp keeps only its output.
	kernel.Register("TestExp", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{mapT(in[0], expf)}, nil
		},
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if in[0] != nil || out[0] == nil {
				return nil, errors.New("TestExp must see its output and not its input")
			}
			d, _ := elementwise(dout[0], out[0], func(g, y float64) float64 { return g * y })
			return []*tensor.Tensor{d}, nil
		},
		KeepInputs:  []int{},
		KeepOutputs: []int{0},
	})
	kernel.Register("TestRelu", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{mapT(in[0], func(x float64) float64 { return max(x, 0) })}, nil
		},
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			d, _ := elementwise(dout[0], in[0], func(g, x float64) float64 {
				switch c.Relu {
				case engine.ReluDeconv:
					return max(g, 0)
				case engine.ReluGuided:
					if x <= 0 || g < 0 {
						return 0
					}
					return g
				}
				if x <= 0 {
					return 0
				}
				return g
			})
			return []*tensor.Tensor{d}, nil
		},
	})
	kernel.Register("TestIdentity", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{in[0]}, nil
		},
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{dout[0]}, nil
		},
		KeepInputs: []int{},
	})
	// TestShape returns the int32 shape of its input; not differentiable.
	kernel.Register("TestShape", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			s := make([]int32, len(in[0].Shape))
			for i, d := range in[0].Shape {
				s[i] = int32(d)
			}
			return []*tensor.Tensor{tensor.FromInt32(s, len(s))}, nil
		},
	})
	// TestReshape(x, shape) reshapes x (sharing its data).
	kernel.Register("TestReshape", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			s, err := in[1].Ints()
			if err != nil {
				return nil, c.Errorf("shape: %v", err)
			}
			o, err := in[0].Reshaped(s...)
			return []*tensor.Tensor{o}, err
		},
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			d, err := dout[0].Reshaped(in[0].Shape...)
			return []*tensor.Tensor{d, nil}, err
		},
	})
	// TestSplit2 splits a 1-D tensor into halves (two outputs).
	kernel.Register("TestSplit2", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			x := in[0].Float64s()
			h := len(x) / 2
			a, _ := tensor.FromFloat64(append([]float64(nil), x[:h]...), h).Cast(in[0].DType)
			b, _ := tensor.FromFloat64(append([]float64(nil), x[h:]...), len(x)-h).Cast(in[0].DType)
			return []*tensor.Tensor{a, b}, nil
		},
		Backward: func(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
			d := tensor.NewLike(in[0])
			h := in[0].Len() / 2
			for k, g := range dout {
				if g == nil {
					continue
				}
				for i := range g.Len() {
					d.SetFloat(k*h+i, g.Float(i))
				}
			}
			return []*tensor.Tensor{d}, nil
		},
	})
	// TestNoGrad squares its input but has no backward function.
	kernel.Register("TestNoGrad", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{mapT(in[0], func(x float64) float64 { return x * x })}, nil
		},
	})
	// TestCancel is the identity, and calls testCancel first.
	kernel.Register("TestCancel", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			if f := testCancel.Load(); f != nil {
				(*f)()
			}
			return []*tensor.Tensor{in[0]}, nil
		},
	})
	// TestChecked rejects nodes without a "k" attribute at load time.
	kernel.Register("TestChecked", kernel.Def{
		Forward: func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			return []*tensor.Tensor{in[0]}, nil
		},
		Check: func(n *graph.Node) error {
			_, err := n.AttrInt("k")
			return err
		},
	})
}

// builder assembles test graphs.
type builder struct {
	t     testing.TB
	nodes []*graph.Node
	by    map[string]*graph.Node
}

func newBuilder(t testing.TB) *builder { return &builder{t: t, by: map[string]*graph.Node{}} }

func (b *builder) ep(name string) graph.Endpoint {
	b.t.Helper()
	nodeName, idx, err := graph.ParseTensorName(name)
	if err != nil {
		b.t.Fatal(err)
	}
	n := b.by[nodeName]
	if n == nil {
		b.t.Fatalf("builder: no node %q", nodeName)
	}
	return n.Output(idx)
}

func (b *builder) add(name, op string, nout int, inputs ...string) *graph.Node {
	b.t.Helper()
	n := &graph.Node{Name: name, Op: op, NumOutputs: nout, Attrs: map[string]*attrpb.AttrValue{}}
	for _, in := range inputs {
		n.Inputs = append(n.Inputs, b.ep(in))
	}
	b.nodes = append(b.nodes, n)
	b.by[name] = n
	return n
}

func (b *builder) op(name, op string, inputs ...string) *graph.Node {
	b.t.Helper()
	return b.add(name, op, 1, inputs...)
}

func (b *builder) placeholder(name string, dt tensor.DType, shape ...int) *graph.Node {
	n := b.add(name, "Placeholder", 1)
	n.Attrs["dtype"] = graph.TypeAttr(dt)
	n.Attrs["shape"] = &attrpb.AttrValue{Value: &attrpb.AttrValue_Shape{Shape: tensor.ShapeProto(shape)}}
	return n
}

func (b *builder) constant(name string, v *tensor.Tensor) *graph.Node {
	n := b.add(name, "Const", 1)
	n.Value = v
	return n
}

func (b *builder) graph() *graph.Graph {
	b.t.Helper()
	g, err := graph.New(b.nodes)
	if err != nil {
		b.t.Fatal(err)
	}
	return g
}

func (b *builder) engine(opts *Options) *Engine {
	b.t.Helper()
	e, err := New(b.graph(), opts)
	if err != nil {
		b.t.Fatal(err)
	}
	return e
}
