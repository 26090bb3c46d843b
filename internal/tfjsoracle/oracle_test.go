package tfjsoracle

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// TestOracleSelfConsistent runs the liveness graph-model (a small
// @vladmandic/human CNN ending in Softmax) and checks the oracle against
// properties that do not depend on TF.js being right: softmax rows sum to
// one, and tf.grad's input gradient matches central differences of the
// forward pass (computed in the same call as extra batch items).
func TestOracleSelfConsistent(t *testing.T) {
	o := New(t)
	path := ModelPath(t, "human-liveness")
	m, err := ReadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	in := m.Inputs()
	if len(in) != 1 || len(in[0].Shape) != 4 {
		t.Fatalf("inputs %+v", in)
	}
	h, w, c := in[0].Shape[1], in[0].Shape[2], in[0].Shape[3]
	px := h * w * c
	r := rand.New(rand.NewPCG(1, 2))
	x0 := make([]float32, px)
	for i := range x0 {
		x0[i] = r.Float32()
	}
	// Batch: x0, then x0 ± eps at three pixels.
	pixels := []int{r.IntN(px), r.IntN(px), r.IntN(px)}
	const eps = 2e-3
	batch := make([]float32, 0, px*(1+2*len(pixels)))
	batch = append(batch, x0...)
	for _, p := range pixels {
		for _, s := range []float32{eps, -eps} {
			start := len(batch)
			batch = append(batch, x0...)
			batch[start+p] += s
		}
	}
	out := "Identity"
	if len(m.ByOp("Identity")) == 0 {
		t.Fatal("liveness has no Identity output node")
	}
	out = m.ByOp("Identity")[0].Name
	nb := 1 + 2*len(pixels)
	fwd, err := o.Run(context.Background(), Request{
		Model: path, Input: in[0].Name, X: tensor.FromFloat32(batch, nb, h, w, c), Fetch: []string{out},
	})
	if err != nil {
		t.Fatal(err)
	}
	y := fwd.Values[out]
	if y == nil || y.Dim(0) != nb {
		t.Fatalf("output %v", y)
	}
	k := y.Len() / nb
	for b := range nb {
		var s float64
		for j := range k {
			s += y.Float(b*k + j)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("softmax row %d sums to %g", b, s)
		}
	}
	if fwd.Backend != "cpu" || fwd.Precision != 32 {
		t.Fatalf("backend %s precision %d", fwd.Backend, fwd.Precision)
	}
	// Objective: output class 0 of image 0.
	seed := tensor.New(tensor.Float32, 1, k)
	seed.F32[0] = 1
	g, err := o.Run(context.Background(), Request{
		Model: path, Input: in[0].Name, X: tensor.FromFloat32(x0, 1, h, w, c),
		InputGrad: &GradSpec{Output: out, Seed: seed},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pixels {
		num := (y.Float((1+2*i)*k) - y.Float((2+2*i)*k)) / (2 * eps)
		got := g.InputGrad.Float(p)
		t.Logf("pixel %d: tf.grad %g, central difference %g", p, got, num)
		if math.Abs(got-num) > 0.03*math.Abs(num)+5e-4 {
			t.Errorf("pixel %d: tf.grad %g, central difference %g", p, got, num)
		}
	}
}

// TestOracleNodeGradient checks the Grad-CAM-style gradient (feeding an
// intermediate convolution inside tf.grad) against a directional central
// difference computed by feeding that node with a ± eps·v.
func TestOracleNodeGradient(t *testing.T) {
	o := New(t)
	path := ModelPath(t, "human-emotion")
	m, err := ReadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	in := m.Inputs()[0]
	convs := m.ByOp("_FusedConv2D")
	node := convs[len(convs)-2].Name
	out := m.ByOp("Identity")[0].Name
	h, w, c := in.Shape[1], in.Shape[2], in.Shape[3]
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, h*w*c)
	for i := range x {
		x[i] = r.Float32()
	}
	fwd, err := o.Run(context.Background(), Request{Model: path, Input: in.Name, X: tensor.FromFloat32(x, 1, h, w, c), Fetch: []string{out}})
	if err != nil {
		t.Fatal(err)
	}
	k := fwd.Values[out].Len()
	seed := tensor.New(tensor.Float32, 1, k)
	for i := range seed.F32 {
		seed.F32[i] = float32(r.NormFloat64())
	}
	g, err := o.Run(context.Background(), Request{Model: path, Input: in.Name, X: tensor.FromFloat32(x, 1, h, w, c),
		NodeGrad: &GradSpec{Node: node, Output: out, Seed: seed}})
	if err != nil {
		t.Fatal(err)
	}
	a, da := g.NodeValue, g.NodeGrad
	if a == nil || da == nil || !tensor.SameShape(a.Shape, da.Shape) {
		t.Fatalf("node value %v, gradient %v", a, da)
	}
	// Direction v: the gradient itself, normalised, so gradient·v = |da|
	// is as large as the signal gets relative to float32 rounding; the
	// step (norm eps) is spread over all entries and crosses few kinks.
	n := a.Len()
	const eps = 1e-2
	var norm float64
	for i := range n {
		norm += da.Float(i) * da.Float(i)
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		t.Fatal("zero node gradient")
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(da.Float(i) / norm)
	}
	dir := norm
	ab := make([]float32, 0, 2*n)
	for _, s := range []float32{eps, -eps} {
		for i := range n {
			ab = append(ab, a.F32[i]+s*v[i])
		}
	}
	xb := append(append([]float32(nil), x...), x...)
	shape := append([]int{2}, a.Shape[1:]...)
	fd, err := o.Run(context.Background(), Request{Model: path, Input: in.Name, X: tensor.FromFloat32(xb, 2, h, w, c),
		Feeds: map[string]*tensor.Tensor{node: tensor.FromFloat32(ab, shape...)}, Fetch: []string{out}})
	if err != nil {
		t.Fatal(err)
	}
	y := fd.Values[out]
	var num float64
	for j := range k {
		num += seed.Float(j) * (y.Float(j) - y.Float(k+j)) / (2 * eps)
	}
	t.Logf("node %s: gradient·v = %g, central difference %g", node, dir, num)
	if math.Abs(dir-num) > 0.01*math.Abs(num) {
		t.Fatalf("node %s: gradient·v = %g, central difference %g", node, dir, num)
	}
}
