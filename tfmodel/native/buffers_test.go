package native

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func randF32(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(r.NormFloat64())
	}
	return t
}

// aliasGraph has a convolution output (c1) that dies while an Identity of
// it (id) is still live, and later same-sized outputs (c2, c3) that a
// wrongly recycled buffer would overwrite: out = id + c3.
func aliasGraph(t *testing.T, r *rand.Rand) *Engine {
	b := newBuilder(t)
	b.placeholder("x", tensor.Float32, -1, 6, 5, 3)
	b.constant("f1", randF32(r, 3, 3, 3, 4))
	b.constant("f2", randF32(r, 1, 1, 4, 4))
	conv := func(name, x, f, padding string) {
		n := b.op(name, "Conv2D", x, f)
		n.Attrs["strides"] = graph.IntsAttr(1, 1, 1, 1)
		n.Attrs["dilations"] = graph.IntsAttr(1, 1, 1, 1)
		n.Attrs["padding"] = graph.StringAttr(padding)
		n.Attrs["data_format"] = graph.StringAttr("NHWC")
		n.Attrs["T"] = graph.TypeAttr(tensor.Float32)
	}
	conv("c1", "x", "f1", "SAME")
	b.op("id", "Identity", "c1").Attrs["T"] = graph.TypeAttr(tensor.Float32)
	conv("c2", "c1", "f2", "VALID")
	conv("c3", "c2", "f2", "VALID")
	b.op("out", "AddV2", "id", "c3").Attrs["T"] = graph.TypeAttr(tensor.Float32)
	return b.engine(nil)
}

// TestRecycledBuffersChangeNothing runs forward and gradient passes
// repeatedly on different inputs, so outputs land in buffers recycled from
// earlier values and runs, and compares every result with an engine that
// allocates fresh memory for each value (the observe hook turns recycling
// off).
func TestRecycledBuffersChangeNothing(t *testing.T) {
	ctx := context.Background()
	pooled := aliasGraph(t, rand.New(rand.NewPCG(1, 2)))
	fresh := aliasGraph(t, rand.New(rand.NewPCG(1, 2)))
	fresh.observe = func(*graph.Node, []*tensor.Tensor, []*tensor.Tensor) {}
	r := rand.New(rand.NewPCG(3, 4))
	same := func(what string, a, b *tensor.Tensor) {
		t.Helper()
		if len(a.F32) != len(b.F32) {
			t.Fatalf("%s: %d vs %d values", what, len(a.F32), len(b.F32))
		}
		for i := range a.F32 {
			if a.F32[i] != b.F32[i] {
				t.Fatalf("%s[%d] = %g with recycled buffers, %g without", what, i, a.F32[i], b.F32[i])
			}
		}
	}
	var held int64
	for it := range 6 {
		x := randF32(r, 1+it%3, 6, 5, 3)
		feeds := map[string]*tensor.Tensor{"x": x}
		got, err := pooled.Run(ctx, feeds, []string{"out", "c2"})
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.Run(ctx, feeds, []string{"out", "c2"})
		if err != nil {
			t.Fatal(err)
		}
		held = max(held, pooled.bufs.held)
		same("out", got[0], want[0])
		same("c2", got[1], want[1])
		req := engine.GradRequest{Feeds: feeds, Targets: []string{"out"}, Wrt: []string{"x", "c1"}, Seed: onesSeed}
		gg, err := pooled.Gradients(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		gw, err := fresh.Gradients(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		same("d out/d x", gg.Grads["x"], gw.Grads["x"])
		same("d out/d c1", gg.Grads["c1"], gw.Grads["c1"])
		same("out (gradient pass)", gg.Values["out"], gw.Values["out"])
	}
	if held == 0 {
		t.Error("no buffer was kept for reuse: the test does not exercise recycling")
	}
	if _, err := pooled.Run(ctx, map[string]*tensor.Tensor{"x": randF32(r, 2, 6, 5, 3)}, []string{"out"}); err != nil {
		t.Fatal(err)
	}
	if err := pooled.Close(); err != nil || pooled.bufs.held != 0 {
		t.Errorf("Close: %v, %d bytes still pooled", err, pooled.bufs.held)
	}
}
