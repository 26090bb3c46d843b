package native

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// nodeFLOPs counts the multiply-adds (×2) of a convolution or matrix
// multiply from its actual input and output shapes; other ops count 0.
func nodeFLOPs(n *graph.Node, in, out []*tensor.Tensor) float64 {
	if len(out) == 0 || out[0] == nil || len(in) < 2 {
		return 0
	}
	o := float64(out[0].Len())
	switch n.Op {
	case "Conv2D", "_FusedConv2D":
		f := in[1].Shape // [kh, kw, cin, cout]
		if len(f) != 4 {
			return 0
		}
		return 2 * o * float64(f[0]*f[1]*f[2])
	case "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "_FusedDepthwiseConv2dNative":
		f := in[1].Shape // [kh, kw, cin, mult]
		if len(f) != 4 {
			return 0
		}
		return 2 * o * float64(f[0]*f[1])
	case "MatMul", "_FusedMatMul":
		a := in[0].Shape
		if len(a) != 2 {
			return 0
		}
		k := a[1]
		if n.HasAttr("transpose_a") {
			if ta, _ := n.AttrBool("transpose_a"); ta {
				k = a[0]
			}
		}
		return 2 * o * float64(k)
	}
	return 0
}

// forwardFLOPs runs the model once and counts its convolution and matrix
// multiply FLOPs.
func forwardFLOPs(b *testing.B, e *Engine, feeds map[string]*tensor.Tensor, fetch string) float64 {
	b.Helper()
	var total float64
	e.observe = func(n *graph.Node, in, out []*tensor.Tensor) { total += nodeFLOPs(n, in, out) }
	defer func() { e.observe = nil }()
	if _, err := e.Run(context.Background(), feeds, []string{fetch}); err != nil {
		b.Fatal(err)
	}
	return total
}

type benchModel struct {
	name          string
	e             *Engine
	input, output string
	shape         []int // per image, without the batch dimension
	lo, hi        float32
	camNode       string
}

func benchForward(b *testing.B, m benchModel) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("%s/batch=%d", m.name, batch), func(b *testing.B) {
			x := randInput(1, m.lo, m.hi, append([]int{batch}, m.shape...)...)
			feeds := map[string]*tensor.Tensor{m.input: x}
			flops := forwardFLOPs(b, m.e, feeds, m.output)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := m.e.Run(ctx, feeds, []string{m.output}); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start).Seconds()
			b.ReportMetric(flops*float64(b.N)/el/1e9, "GFLOP/s")
			b.ReportMetric(el*1e3/float64(b.N*batch), "ms/image")
		})
	}
}

func benchGradCAM(b *testing.B, m benchModel) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("%s/batch=%d", m.name, batch), func(b *testing.B) {
			x := randInput(1, m.lo, m.hi, append([]int{batch}, m.shape...)...)
			req := engine.GradRequest{
				Feeds:   map[string]*tensor.Tensor{m.input: x},
				Targets: []string{m.output},
				Wrt:     []string{m.camNode},
				Seed: func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
					// One-hot on class 0 of every image.
					y := v[m.output]
					s := tensor.NewLike(y)
					k := y.Len() / y.Shape[0]
					for i := range y.Shape[0] {
						s.SetFloat(i*k, 1)
					}
					return map[string]*tensor.Tensor{m.output: s}, nil
				},
			}
			ctx := context.Background()
			start := time.Now()
			for b.Loop() {
				if _, err := m.e.Gradients(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(time.Since(start).Seconds()*1e3/float64(b.N*batch), "ms/image")
		})
	}
}

// tfjsBenchModel loads a graph-model for the benchmarks; the Grad-CAM
// node is the last convolution on the output's path.
func tfjsBenchModel(b *testing.B, name string, lo, hi float32) benchModel {
	m := loadGraphModel(b, name)
	oep, err := m.g.Resolve(m.output)
	if err != nil {
		b.Fatal(err)
	}
	sub, err := m.g.Prune([]graph.Endpoint{oep}, nil)
	if err != nil {
		b.Fatal(err)
	}
	convs := convNodes(sub)
	return benchModel{name: name, e: m.e, input: m.input, output: m.output, shape: m.shape[1:], lo: lo, hi: hi, camNode: convs[len(convs)-1]}
}

// BenchmarkForward reports ms per image and the achieved GFLOP/s
// (convolution and matrix-multiply FLOPs) of a forward pass.
func BenchmarkForward(b *testing.B) {
	benchForward(b, tfjsBenchModel(b, "nsfwjs-mobilenetv2", 0, 1))
}

// BenchmarkGradCAM reports ms per image of a forward pass plus the
// backward pass from a class score to the last convolution.
func BenchmarkGradCAM(b *testing.B) {
	benchGradCAM(b, tfjsBenchModel(b, "nsfwjs-mobilenetv2", 0, 1))
}
