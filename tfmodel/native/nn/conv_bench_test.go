package nn

import (
	"fmt"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Benchmarks on MobileNetV2-like and small-CNN shapes, float32. Compare
// the BLAS backends with
//
//	go test -run '^$' -bench . ./tfmodel/native/nn/
//	go test -tags openblas -run '^$' -bench . ./tfmodel/native/nn/

var cvBenchShapes = []struct {
	name string
	op   string
	k    cvCase
}{
	{"mnv2_stem_224x3_3x3s2_32", "Conv2D", cvCase{h: 224, w: 224, c: 3, kh: 3, kw: 3, out: 32, sh: 2, sw: 2, dh: 1, dw: 1, padding: "SAME"}},
	{"mnv2_dw_112x32_3x3", "DepthwiseConv2dNative", cvCase{h: 112, w: 112, c: 32, kh: 3, kw: 3, out: 1, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"}},
	{"mnv2_pw_56x96_1x1_24", "Conv2D", cvCase{h: 56, w: 56, c: 96, kh: 1, kw: 1, out: 24, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"}},
	{"conv_56x64_3x3_64", "Conv2D", cvCase{h: 56, w: 56, c: 64, kh: 3, kw: 3, out: 64, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"}},
	{"cifar_15x32_3x3_64", "Conv2D", cvCase{h: 15, w: 15, c: 32, kh: 3, kw: 3, out: 64, sh: 1, sw: 1, dh: 1, dw: 1, padding: "VALID"}},
}

// cvFlops returns the multiply-adds ×2 of one forward pass.
func cvFlops(op string, k cvCase) float64 {
	oh, ow, _, _ := k.outHW()
	outCh := k.out
	if op == "DepthwiseConv2dNative" {
		outCh = k.c * k.out
		return 2 * float64(k.n*oh*ow*outCh*k.kh*k.kw)
	}
	return 2 * float64(k.n*oh*ow*outCh*k.kh*k.kw*k.c)
}

func BenchmarkConv(b *testing.B) {
	for _, s := range cvBenchShapes {
		for _, batch := range []int{1, 8} {
			k := s.k
			k.n = batch
			x := cvF32(kerneltest.Rand(1, -1, 1, k.n, k.h, k.w, k.c))
			f := cvF32(kerneltest.Rand(2, -1, 1, k.kh, k.kw, k.c, k.out))
			node := kerneltest.Node(s.op, 1, k.attrs())
			d, _ := kernel.Lookup(s.op)
			c := &kernel.Context{Node: node}
			flops := cvFlops(s.op, k)
			b.Run(fmt.Sprintf("%s/%s/forward/batch%d", Backend(), s.name, batch), func(b *testing.B) {
				for b.Loop() {
					if _, err := d.Forward(c, []*tensor.Tensor{x, f}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			y, err := d.Forward(c, []*tensor.Tensor{x, f})
			if err != nil {
				b.Fatal(err)
			}
			c.Relu = engine.ReluNormal
			b.Run(fmt.Sprintf("%s/%s/backward/batch%d", Backend(), s.name, batch), func(b *testing.B) {
				for b.Loop() {
					if _, err := d.Backward(c, []*tensor.Tensor{x, f}, nil, y); err != nil {
						b.Fatal(err)
					}
				}
				// dx and df: twice the forward work.
				b.ReportMetric(2*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
