package native

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func expf(x float64) float64 { return math.Exp(x) }

func f64(v ...float64) *tensor.Tensor { return tensor.FromFloat64(v, len(v)) }

func assertClose(t *testing.T, what string, got *tensor.Tensor, want []float64, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil tensor", what)
	}
	if got.Len() != len(want) {
		t.Fatalf("%s: %d values, want %d", what, got.Len(), len(want))
	}
	for i, w := range want {
		if d := math.Abs(got.Float(i) - w); d > tol*max(1, math.Abs(w)) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got.Float(i), w)
		}
	}
}

// polyGraph: x (placeholder [3]); a = x + c; b = a * x; y = exp(b).
func polyGraph(t *testing.T) *builder {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 3)
	b.constant("c", f64(1, 2, 3))
	b.op("a", "TestAdd", "x", "c")
	b.op("b", "TestMul", "a", "x")
	b.op("y", "TestExp", "b")
	return b
}

func TestRunComputesAndFetchesIntermediates(t *testing.T) {
	e := polyGraph(t).engine(nil)
	x := []float64{0.5, -1, 0.25}
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": f64(x...)}, []string{"y", "a", "b:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := []float64{1, 2, 3}
	var wy, wa, wb []float64
	for i := range x {
		a := x[i] + c[i]
		wa = append(wa, a)
		wb = append(wb, a*x[i])
		wy = append(wy, math.Exp(a*x[i]))
	}
	assertClose(t, "y", out[0], wy, 1e-15)
	assertClose(t, "a", out[1], wa, 1e-15)
	assertClose(t, "b", out[2], wb, 1e-15)
	if e.Name() != "native" {
		t.Errorf("Name() = %q", e.Name())
	}
}

func TestRunReturnsCopiesOfConstantsAndFeeds(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 2)
	b.constant("c", f64(1, 2))
	b.op("ci", "TestIdentity", "c")
	e := b.engine(nil)
	x := f64(5, 6)
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": x}, []string{"ci", "c", "x", "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		o.F64[0] = 100
	}
	if b.by["c"].Value.F64[0] != 1 || x.F64[0] != 5 {
		t.Fatalf("caller's writes reached the graph constant (%v) or the feed (%v)", b.by["c"].Value, x)
	}
	if out[2] == out[3] {
		t.Fatal("the same tensor was returned twice")
	}
}

func TestUnsupportedOpsListsAll(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 3)
	b.op("a/b", "Foo", "x")
	b.op("c/d", "Foo", "a/b")
	b.op("e", "Bar", "c/d")
	b.op("f", "TestRelu", "e")
	_, err := New(b.graph(), nil)
	if err == nil {
		t.Fatal("New accepted unsupported ops")
	}
	want := "unsupported ops: Foo (2 nodes: a/b, c/d), Bar (1 node: e)"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestNewRunsKernelChecks(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 3)
	b.op("bad1", "TestChecked", "x")
	ok := b.op("good", "TestChecked", "x")
	ok.Attrs["k"] = graph.IntAttr(1)
	b.op("bad2", "TestChecked", "x")
	_, err := New(b.graph(), nil)
	if err == nil || !strings.Contains(err.Error(), "bad1") || !strings.Contains(err.Error(), "bad2") || strings.Contains(err.Error(), "good") {
		t.Fatalf("want an error naming bad1 and bad2 only, got %v", err)
	}
}

func TestLivenessReleasesDeadIntermediates(t *testing.T) {
	// x → a → b → c → d; fetch b and d. a must be released as soon as b
	// has run, c as soon as d has run, b never.
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 2)
	b.op("a", "TestRelu", "x")
	b.op("b", "TestRelu", "a")
	b.op("c", "TestRelu", "b")
	b.op("d", "TestExp", "c")
	b.op("unused", "TestExp", "x")
	e := b.engine(nil)
	var log []string
	e.observe = func(n *graph.Node, in, out []*tensor.Tensor) { log = append(log, "run "+n.Name) }
	e.release = func(ep graph.Endpoint) { log = append(log, "free "+ep.String()) }
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": f64(1, -2)}, []string{"b", "d"})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "b", out[0], []float64{1, 0}, 0)
	got := strings.Join(log, "; ")
	want := "run a; free x; run b; free a; run c; run d; free c"
	if got != want {
		t.Fatalf("execution log\n got: %s\nwant: %s", got, want)
	}
}

func TestLivenessMultiOutput(t *testing.T) {
	// An unread output of a multi-output node is dropped right away.
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 4)
	b.add("s", "TestSplit2", 2, "x")
	b.op("y", "TestExp", "s:1")
	e := b.engine(nil)
	var freed []string
	e.release = func(ep graph.Endpoint) { freed = append(freed, ep.String()) }
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": f64(0, 0, 1, 2)}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "y", out[0], []float64{math.E, math.Exp(2)}, 1e-15)
	if got := strings.Join(freed, ","); got != "x,s,s:1" {
		t.Fatalf("freed %s, want x,s,s:1", got)
	}
}

func TestFeedIntermediateCutsGraph(t *testing.T) {
	e := polyGraph(t).engine(nil)
	var ran []string
	e.observe = func(n *graph.Node, in, out []*tensor.Tensor) { ran = append(ran, n.Name) }
	// Feeding b: x is not needed and a, b are not run.
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"b": f64(0, 1, 2)}, []string{"y"})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "y", out[0], []float64{1, math.E, math.Exp(2)}, 1e-15)
	if strings.Join(ran, ",") != "y" {
		t.Fatalf("ran %v, want only y", ran)
	}
	// Feeding a: x is still needed by b.
	_, err = e.Run(context.Background(), map[string]*tensor.Tensor{"a:0": f64(0, 1, 2)}, []string{"y"})
	if err == nil || !strings.Contains(err.Error(), "x (float64, shape (3,))") {
		t.Fatalf("want a missing-feed error naming x with its dtype and shape, got %v", err)
	}
}

func TestFeedErrors(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("img", tensor.Float32, -1, 4, 4, 3)
	b.op("y", "TestRelu", "img")
	b.add("s", "TestSplit2", 2, "img")
	b.op("s1", "TestRelu", "s:1")
	e := b.engine(nil)
	ctx := context.Background()
	cases := []struct {
		feeds   map[string]*tensor.Tensor
		fetch   string
		wantErr string
	}{
		{nil, "y", "placeholder not fed: img (float32, shape (?, 4, 4, 3))"},
		{map[string]*tensor.Tensor{"img": tensor.New(tensor.Float32, 2, 4, 4, 1)}, "y", "dimension 3 (channels) is 1, want 3"},
		{map[string]*tensor.Tensor{"img": tensor.New(tensor.Float64, 1, 4, 4, 3)}, "y", "dtype float32, got a float64"},
		{map[string]*tensor.Tensor{"img": tensor.New(tensor.Float32, 4, 4, 3)}, "y", "rank 4"},
		{map[string]*tensor.Tensor{"img": {DType: tensor.Float32, Shape: []int{1, 4, 4, 3}, F32: make([]float32, 5)}}, "y", "holds 5 values, want 48"},
		{map[string]*tensor.Tensor{"img": nil}, "y", "is nil"},
		{map[string]*tensor.Tensor{"im": tensor.New(tensor.Float32, 1, 4, 4, 3)}, "y", `no node "im"`},
		{map[string]*tensor.Tensor{"img": tensor.New(tensor.Float32, 1, 4, 4, 3)}, "yy", "close matches: y"},
		{map[string]*tensor.Tensor{"s": tensor.New(tensor.Float32, 1)}, "s1", "cut by a feed"},
	}
	for _, c := range cases {
		_, err := e.Run(ctx, c.feeds, []string{c.fetch})
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("feeds %v fetch %s: want error containing %q, got %v", c.feeds, c.fetch, c.wantErr, err)
		}
	}
	// A batch of 2 with the right channels is fine.
	if _, err := e.Run(ctx, map[string]*tensor.Tensor{"img": tensor.New(tensor.Float32, 2, 4, 4, 3)}, []string{"y"}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRuns(t *testing.T) {
	e := polyGraph(t).engine(&Options{Threads: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for k := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := []float64{float64(k), 0.1 * float64(k), -1}
			ctx := context.Background()
			var out []*tensor.Tensor
			var err error
			if k%2 == 0 {
				out, err = e.Run(ctx, map[string]*tensor.Tensor{"x": f64(x...)}, []string{"b"})
			} else {
				var res *engine.GradResult
				res, err = e.Gradients(ctx, engine.GradRequest{
					Feeds: map[string]*tensor.Tensor{"x": f64(x...)}, Targets: []string{"b"}, Wrt: []string{"x"},
					Seed: onesSeed,
				})
				if err == nil {
					out = []*tensor.Tensor{res.Values["b"]}
					// d/dx (x+c)x = 2x + c
					for i, c := range []float64{1, 2, 3} {
						if g := res.Grads["x"].F64[i]; math.Abs(g-(2*x[i]+c)) > 1e-12 {
							err = fmt.Errorf("run %d: grad[%d] = %g, want %g", k, i, g, 2*x[i]+c)
						}
					}
				}
			}
			if err == nil {
				for i, c := range []float64{1, 2, 3} {
					if got := out[0].F64[i]; got != (x[i]+c)*x[i] {
						err = fmt.Errorf("run %d: b[%d] = %g", k, i, got)
					}
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestCancellationBetweenNodes(t *testing.T) {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float64, 2)
	b.op("a", "TestCancel", "x")
	b.op("b", "TestRelu", "a")
	e := b.engine(nil)
	ctx, cancel := context.WithCancel(context.Background())
	f := func() { cancel() }
	testCancel.Store(&f)
	defer testCancel.Store(nil)
	var ran []string
	e.observe = func(n *graph.Node, in, out []*tensor.Tensor) { ran = append(ran, n.Name) }
	_, err := e.Run(ctx, map[string]*tensor.Tensor{"x": f64(1, 2)}, []string{"b"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if strings.Join(ran, ",") != "a" {
		t.Fatalf("ran %v after cancellation, want only a", ran)
	}
	// An already canceled context runs nothing.
	ran = nil
	if _, err := e.Run(ctx, map[string]*tensor.Tensor{"x": f64(1, 2)}, []string{"b"}); !errors.Is(err, context.Canceled) || len(ran) > 0 {
		t.Fatalf("canceled context: err %v, ran %v", err, ran)
	}
}

func TestClose(t *testing.T) {
	e := polyGraph(t).engine(nil)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": f64(1, 2, 3)}, []string{"y"}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("run after Close: %v", err)
	}
}
