package native

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// onesSeed seeds every target with ones.
func onesSeed(values map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	s := map[string]*tensor.Tensor{}
	for k, v := range values {
		o := tensor.NewLike(v)
		for i := range o.Len() {
			o.SetFloat(i, 1)
		}
		s[k] = o
	}
	return s, nil
}

// fixedSeed returns seeds for the named targets only.
func fixedSeed(seeds map[string]*tensor.Tensor) func(map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return func(map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) { return seeds, nil }
}

// numGrad computes dL/dfeed by central differences of L = Σ seed·target,
// evaluating the graph with Run: an oracle independent of the backward
// pass.
func numGrad(t *testing.T, e *Engine, feeds map[string]*tensor.Tensor, wrt, target string, seed *tensor.Tensor) []float64 {
	t.Helper()
	x := feeds[wrt]
	g := make([]float64, x.Len())
	const h = 1e-6
	eval := func() float64 {
		out, err := e.Run(context.Background(), feeds, []string{target})
		if err != nil {
			t.Fatal(err)
		}
		var l float64
		for i := range out[0].Len() {
			l += seed.Float(i) * out[0].Float(i)
		}
		return l
	}
	for i := range g {
		v := x.Float(i)
		x.SetFloat(i, v+h)
		lp := eval()
		x.SetFloat(i, v-h)
		lm := eval()
		x.SetFloat(i, v)
		g[i] = (lp - lm) / (2 * h)
	}
	return g
}

func TestGradientsFanOutAndSharedInput(t *testing.T) {
	// x feeds a (x+c) and b (a*x): fan-out; q = x*x consumes x twice.
	b := polyGraph(t)
	b.op("q", "TestMul", "x", "x")
	b.op("z", "TestAdd", "y", "q")
	e := b.engine(nil)
	x := f64(0.3, -0.7, 0.2)
	seed := f64(1, -2, 0.5)
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": x}, Targets: []string{"z"}, Wrt: []string{"x"},
		Seed: fixedSeed(map[string]*tensor.Tensor{"z": seed}),
	})
	if err != nil {
		t.Fatal(err)
	}
	// z = exp((x+c)x) + x², dz/dx = exp((x+c)x)(2x+c) + 2x.
	c := []float64{1, 2, 3}
	var want []float64
	for i := range 3 {
		xi := x.F64[i]
		want = append(want, seed.F64[i]*(math.Exp((xi+c[i])*xi)*(2*xi+c[i])+2*xi))
	}
	assertClose(t, "dz/dx", res.Grads["x"], want, 1e-12)
	assertClose(t, "dz/dx vs finite differences", res.Grads["x"], numGrad(t, e, map[string]*tensor.Tensor{"x": x}, "x", "z", seed), 1e-7)
	if v := res.Values["z"]; v == nil || v.Len() != 3 {
		t.Fatalf("target value missing: %v", res.Values)
	}
	// The seed must not have been modified (TestAdd returns dout for both
	// inputs, so a careless accumulation would add into it).
	assertClose(t, "seed", seed, []float64{1, -2, 0.5}, 0)
}

func TestGradientsMultipleWrtAndFetches(t *testing.T) {
	e := polyGraph(t).engine(nil)
	x := f64(0.3, -0.7, 0.2)
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds:   map[string]*tensor.Tensor{"x": x},
		Targets: []string{"y"},
		Fetches: []string{"a"},
		Wrt:     []string{"x", "b", "a", "c"},
		Seed: func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
			if v["a"] == nil || v["y"] == nil {
				t.Errorf("Seed saw %v, want y and a", v)
			}
			return onesSeed(map[string]*tensor.Tensor{"y": v["y"]})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := []float64{1, 2, 3}
	var dx, db, da, dc, a []float64
	for i := range 3 {
		xi := x.F64[i]
		y := math.Exp((xi + c[i]) * xi)
		db = append(db, y)
		da = append(da, y*xi)
		dc = append(dc, y*xi)
		dx = append(dx, y*(2*xi+c[i]))
		a = append(a, xi+c[i])
	}
	assertClose(t, "dy/dx", res.Grads["x"], dx, 1e-12)
	assertClose(t, "dy/db", res.Grads["b"], db, 1e-12)
	assertClose(t, "dy/da", res.Grads["a"], da, 1e-12)
	assertClose(t, "dy/dc (a constant)", res.Grads["c"], dc, 1e-12)
	assertClose(t, "fetched a", res.Values["a"], a, 1e-15)
	if res.Values["y"] == nil {
		t.Fatal("target value missing")
	}
}

func TestGradientsKeepOnlyWhatBackwardReads(t *testing.T) {
	// x → r0 (relu) → a (add) → r1 (relu) → y (exp); wrt a: r0 is not on
	// a path from a to y, so it keeps nothing and x and r0 are dropped
	// during the forward pass; TestExp keeps only its output, so r1 is
	// dropped too.
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 2)
	b.op("r0", "TestRelu", "x")
	b.op("a", "TestAdd", "r0", "r0")
	b.op("r1", "TestRelu", "a")
	b.op("y", "TestExp", "r1")
	e := b.engine(nil)
	var log []string
	e.observe = func(n *graph.Node, in, out []*tensor.Tensor) { log = append(log, "run "+n.Name) }
	e.release = func(ep graph.Endpoint) { log = append(log, "free "+ep.String()) }
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": f64(1, -1)}, Targets: []string{"y"}, Wrt: []string{"a"}, Seed: onesSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(log, "; ")
	want := "run r0; free x; run a; free r0; run r1; free a; run y; free r1"
	if got != want {
		t.Fatalf("log\n got: %s\nwant: %s", got, want)
	}
	// y = exp(relu(a)), a = [2, 0]: dy/da = [e², 0].
	assertClose(t, "dy/da", res.Grads["a"], []float64{math.Exp(2), 0}, 1e-12)
}

func TestGradientsIntegerPathsCarryNoGradient(t *testing.T) {
	// y = reshape(exp(x), shape(x)): the shape branch (TestShape has no
	// backward) is integer-valued and must not be differentiated.
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 2, 2)
	b.op("ex", "TestExp", "x")
	b.op("sh", "TestShape", "x")
	b.op("y", "TestReshape", "ex", "sh")
	e := b.engine(nil)
	x := tensor.FromFloat64([]float64{0, 1, 2, -1}, 2, 2)
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": x}, Targets: []string{"y"}, Wrt: []string{"x", "sh"}, Seed: onesSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "dy/dx", res.Grads["x"], []float64{1, math.E, math.Exp(2), math.Exp(-1)}, 1e-12)
	if g := res.Grads["sh"]; g == nil || g.DType != tensor.Int32 || g.Len() != 2 || g.I32[0] != 0 || g.I32[1] != 0 {
		t.Fatalf("gradient w.r.t. an integer tensor: got %v, want int32 zeros", g)
	}
}

func TestGradientsNonDifferentiableOp(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 2)
	b.op("sq", "TestNoGrad", "x")
	b.op("y", "TestExp", "sq")
	e := b.engine(nil)
	_, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": f64(1, 2)}, Targets: []string{"y"}, Wrt: []string{"x"}, Seed: onesSeed,
	})
	if err == nil || !strings.Contains(err.Error(), "TestNoGrad (node sq) is not differentiable") {
		t.Fatalf("want an error naming the non-differentiable node, got %v", err)
	}
	// Above the op, the gradient is fine.
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": f64(1, 2)}, Targets: []string{"y"}, Wrt: []string{"sq"}, Seed: onesSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "dy/dsq", res.Grads["sq"], []float64{math.E, math.Exp(4)}, 1e-12)
}

func TestGradientsStopAtFedWrt(t *testing.T) {
	// Feeding b and differentiating w.r.t. it needs neither x nor a.
	e := polyGraph(t).engine(nil)
	var ran []string
	e.observe = func(n *graph.Node, in, out []*tensor.Tensor) { ran = append(ran, n.Name) }
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"b": f64(0, 1, 2)}, Targets: []string{"y"}, Wrt: []string{"b"}, Seed: onesSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "dy/db", res.Grads["b"], []float64{1, math.E, math.Exp(2)}, 1e-12)
	if strings.Join(ran, ",") != "y" {
		t.Fatalf("ran %v, want only y", ran)
	}
}

func TestGradientsUnrelatedWrtIsZero(t *testing.T) {
	b := polyGraph(t)
	b.placeholder("u", tensor.Float64, 2)
	b.op("v", "TestExp", "u")
	e := b.engine(nil)
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds:   map[string]*tensor.Tensor{"x": f64(1, 2, 3), "u": f64(1, 1)},
		Targets: []string{"y"}, Wrt: []string{"u", "y"}, Seed: onesSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "dy/du", res.Grads["u"], []float64{0, 0}, 0)
	assertClose(t, "dy/dy", res.Grads["y"], []float64{1, 1, 1}, 0)
}

func TestGradientsReluModes(t *testing.T) {
	// y = relu(x) * w with w = [1, -1, 1, -1]: dy = w; x = [1, 1, -1, -1].
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 4)
	b.constant("w", f64(1, -1, 1, -1))
	b.op("r", "TestRelu", "x")
	b.op("y", "TestMul", "r", "w")
	e := b.engine(nil)
	for _, c := range []struct {
		mode engine.ReluMode
		want []float64
	}{
		{engine.ReluNormal, []float64{1, -1, 0, 0}},
		{engine.ReluGuided, []float64{1, 0, 0, 0}},
		{engine.ReluDeconv, []float64{1, 0, 1, 0}},
	} {
		res, err := e.Gradients(context.Background(), engine.GradRequest{
			Feeds: map[string]*tensor.Tensor{"x": f64(1, 1, -1, -1)}, Targets: []string{"y"}, Wrt: []string{"x"}, Seed: onesSeed, Relu: c.mode,
		})
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, c.mode.String(), res.Grads["x"], c.want, 0)
	}
}

func TestGradientsSeedDependsOnPrediction(t *testing.T) {
	// Seed picks the arg-max of the target: a one-hot seed.
	e := polyGraph(t).engine(nil)
	x := f64(0.1, 0.5, -0.2)
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": x}, Targets: []string{"y"}, Wrt: []string{"x"},
		Seed: func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
			y := v["y"]
			best := 0
			for i := range y.Len() {
				if y.Float(i) > y.Float(best) {
					best = i
				}
			}
			s := tensor.NewLike(y)
			s.SetFloat(best, 1)
			return map[string]*tensor.Tensor{"y": s}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// y = exp((x+c)x): largest at i=1 (0.5·2.5); gradient only there.
	assertClose(t, "one-hot grad", res.Grads["x"], []float64{0, math.Exp(1.25) * (2*0.5 + 2), 0}, 1e-12)
}

func TestGradientsFloat32(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float32, 3)
	b.op("q", "TestMul", "x", "x")
	b.op("y", "TestExp", "q")
	e := b.engine(nil)
	res, err := e.Gradients(context.Background(), engine.GradRequest{
		Feeds: map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{0.5, -1, 0}, 3)}, Targets: []string{"y"}, Wrt: []string{"x"}, Seed: onesSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Grads["x"].DType != tensor.Float32 {
		t.Fatalf("gradient dtype %v, want float32", res.Grads["x"].DType)
	}
	assertClose(t, "dy/dx", res.Grads["x"], []float64{math.Exp(0.25), -2 * math.E, 0}, 1e-6)
}

func TestGradientsRequestErrors(t *testing.T) {
	e := polyGraph(t).engine(nil)
	feeds := map[string]*tensor.Tensor{"x": f64(1, 2, 3)}
	cases := []struct {
		req  engine.GradRequest
		want string
	}{
		{engine.GradRequest{Feeds: feeds, Wrt: []string{"x"}, Seed: onesSeed}, "no targets"},
		{engine.GradRequest{Feeds: feeds, Targets: []string{"y"}, Wrt: []string{"x"}}, "no Seed"},
		{engine.GradRequest{Feeds: feeds, Targets: []string{"yy"}, Wrt: []string{"x"}, Seed: onesSeed}, `target "yy"`},
		{engine.GradRequest{Feeds: feeds, Targets: []string{"y"}, Wrt: []string{"xq"}, Seed: onesSeed}, `wrt "xq"`},
		{engine.GradRequest{Feeds: feeds, Targets: []string{"y"}, Wrt: []string{"x"},
			Seed: fixedSeed(map[string]*tensor.Tensor{"y": f64(1, 2)})}, "seed for \"y\" is float64(2,), the target is float64(3,)"},
		{engine.GradRequest{Feeds: feeds, Targets: []string{"y"}, Wrt: []string{"x"},
			Seed: fixedSeed(map[string]*tensor.Tensor{"b": f64(1, 2, 3)})}, `seed for "b", which is not a target`},
	}
	for _, c := range cases {
		_, err := e.Gradients(context.Background(), c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error containing %q, got %v", c.want, err)
		}
	}
}
