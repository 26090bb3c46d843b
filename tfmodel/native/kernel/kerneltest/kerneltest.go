// Package kerneltest checks native kernels: it builds single-node graphs,
// runs their forward functions, and verifies backward functions against
// central finite differences computed in float64.
package kerneltest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Node returns a stand-alone node of the given op with numOutputs outputs
// and the given attributes. Its inputs are left empty: kernels receive
// their inputs as tensors.
func Node(op string, numOutputs int, attrs map[string]*attrpb.AttrValue) *graph.Node {
	if attrs == nil {
		attrs = map[string]*attrpb.AttrValue{}
	}
	return &graph.Node{Name: "test/" + op, Op: op, NumOutputs: numOutputs, Attrs: attrs}
}

// Forward runs the node's forward kernel, float32 outputs drawn from a
// NaNPool.
func Forward(n *graph.Node, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	d, ok := kernel.Lookup(n.Op)
	if !ok {
		return nil, fmt.Errorf("no kernel for %s", n.Op)
	}
	if d.Check != nil {
		if err := d.Check(n); err != nil {
			return nil, err
		}
	}
	return d.Forward(&kernel.Context{Node: n, Buffers: NaNPool{}}, in)
}

// NaNPool is a kernel.BufferPool that lends NaN-filled buffers, as the
// engine's pool lends garbage: a kernel that leaves an element of a
// pooled output unwritten shows NaN there. Forward runs kernels with it.
type NaNPool struct{}

// Float32 returns n NaNs.
func (NaNPool) Float32(n int) []float32 {
	b := make([]float32, n)
	for i := range b {
		b[i] = float32(math.NaN())
	}
	return b
}

// MustForward is Forward that fails the test on error.
func MustForward(t testing.TB, n *graph.Node, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	out, err := Forward(n, in...)
	if err != nil {
		t.Fatalf("forward %s: %v", n.Op, err)
	}
	return out
}

// Rand returns a float64 tensor of the given shape with values uniform in
// [lo, hi), from a generator seeded with seed.
func Rand(seed uint64, lo, hi float64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	t := tensor.New(tensor.Float64, shape...)
	for i := range t.F64 {
		t.F64[i] = lo + (hi-lo)*r.Float64()
	}
	return t
}

// GradOptions tunes CheckGrad.
type GradOptions struct {
	// Wrt lists the inputs to check (nil: every float input).
	Wrt []int
	// Eps is the finite-difference step (default 1e-6).
	Eps float64
	// Tol is the allowed error, relative to max(1, |numeric|) (default 1e-5).
	Tol float64
	// Relu is the rectifier mode passed to the backward function.
	Relu engine.ReluMode
	// Seed seeds the random upstream gradients.
	Seed uint64
}

// CheckGrad verifies the node's backward function against central finite
// differences of L = Σ_k Σ_i s_k[i]·out_k[i] with random upstream
// gradients s_k, for float64 inputs. Inputs should keep away from kinks
// (ReLU at 0, max-pool ties) by more than Eps.
func CheckGrad(t testing.TB, n *graph.Node, in []*tensor.Tensor, o GradOptions) {
	t.Helper()
	if o.Eps == 0 {
		o.Eps = 1e-6
	}
	if o.Tol == 0 {
		o.Tol = 1e-5
	}
	d, ok := kernel.Lookup(n.Op)
	if !ok {
		t.Fatalf("no kernel for %s", n.Op)
	}
	if d.Backward == nil {
		t.Fatalf("%s has no backward function", n.Op)
	}
	c := &kernel.Context{Node: n, Relu: o.Relu}
	out, err := d.Forward(c, in)
	if err != nil {
		t.Fatalf("forward %s: %v", n.Op, err)
	}
	r := rand.New(rand.NewPCG(o.Seed+1, 7))
	seeds := make([]*tensor.Tensor, len(out))
	for k, y := range out {
		if y == nil || y.DType != tensor.Float64 {
			continue
		}
		s := tensor.New(tensor.Float64, y.Shape...)
		for i := range s.F64 {
			s.F64[i] = r.Float64()*2 - 1
		}
		seeds[k] = s
	}
	// Give Backward only what the Def promises to keep.
	kin := make([]*tensor.Tensor, len(in))
	if d.KeepInputs == nil {
		copy(kin, in)
	} else {
		for _, i := range d.KeepInputs {
			kin[i] = in[i]
		}
	}
	kout := make([]*tensor.Tensor, len(out))
	for _, i := range d.KeepOutputs {
		kout[i] = out[i]
	}
	grads, err := d.Backward(c, kin, kout, seeds)
	if err != nil {
		t.Fatalf("backward %s: %v", n.Op, err)
	}
	if len(grads) != len(in) {
		t.Fatalf("backward %s returned %d gradients for %d inputs", n.Op, len(grads), len(in))
	}
	loss := func() float64 {
		y, err := d.Forward(c, in)
		if err != nil {
			t.Fatalf("forward %s: %v", n.Op, err)
		}
		var l float64
		for k := range y {
			if seeds[k] == nil {
				continue
			}
			for i, v := range y[k].F64 {
				l += seeds[k].F64[i] * v
			}
		}
		return l
	}
	wrt := o.Wrt
	if wrt == nil {
		for i, x := range in {
			if x.DType == tensor.Float64 {
				wrt = append(wrt, i)
			}
		}
	}
	for _, i := range wrt {
		x := in[i]
		if x.DType != tensor.Float64 {
			t.Fatalf("input %d of %s is %v; CheckGrad needs float64", i, n.Op, x.DType)
		}
		g := grads[i]
		if g == nil {
			t.Fatalf("%s: backward returned no gradient for input %d", n.Op, i)
		}
		if !tensor.SameShape(g.Shape, x.Shape) || g.DType != tensor.Float64 {
			t.Fatalf("%s: gradient of input %d is %v%v, input is %v%v", n.Op, i, g.DType, g.Shape, x.DType, x.Shape)
		}
		// Perturb a copy so callers' tensors stay unchanged.
		orig := x.F64
		x.F64 = append([]float64(nil), orig...)
		bad := 0
		for j := range x.F64 {
			v := x.F64[j]
			x.F64[j] = v + o.Eps
			lp := loss()
			x.F64[j] = v - o.Eps
			lm := loss()
			x.F64[j] = v
			num := (lp - lm) / (2 * o.Eps)
			if diff := math.Abs(num - g.F64[j]); diff > o.Tol*math.Max(1, math.Abs(num)) || math.IsNaN(g.F64[j]) {
				if bad < 5 {
					t.Errorf("%s: d/d input %d [%d]: backward %.8g, finite difference %.8g", n.Op, i, j, g.F64[j], num)
				}
				bad++
			}
		}
		x.F64 = orig
		if bad > 0 {
			t.Errorf("%s: input %d: %d of %d gradient entries wrong", n.Op, i, bad, len(x.F64))
		}
	}
}
