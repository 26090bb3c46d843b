package native

import (
	"context"
	"fmt"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// BenchmarkExecutorOverhead measures the executor's own cost per node: a
// chain of 1000 cheap test kernels on a one-element tensor.
func BenchmarkExecutorOverhead(b *testing.B) {
	const n = 1000
	bl := newBuilder(b)
	bl.placeholder("x", tensor.Float32, 1)
	prev := "x"
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		bl.op(name, "TestRelu", prev)
		prev = name
	}
	e := bl.engine(nil)
	feeds := map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{1}, 1)}
	ctx := context.Background()
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.Run(ctx, feeds, []string{prev}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
	})
	b.Run("gradients", func(b *testing.B) {
		req := engine.GradRequest{Feeds: feeds, Targets: []string{prev}, Wrt: []string{"x"}, Seed: onesSeed}
		for b.Loop() {
			if _, err := e.Gradients(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
	})
}
