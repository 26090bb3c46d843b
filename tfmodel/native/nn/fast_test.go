package nn

import (
	"math"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// cvWideDepthwiseCases are depthwise geometries with multiplier 1 and
// channel counts that exercise every part of the float32 fast path: the
// 32-channel blocks, the 8-channel blocks and the scalar tail, on odd
// inputs, stride 2, SAME/VALID/EXPLICIT padding, dilation, 5x5 windows,
// windows larger than the input and batches.
func cvWideDepthwiseCases() []cvCase {
	var cs []cvCase
	geoms := []cvCase{
		{name: "same3x3", n: 1, h: 7, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
		{name: "stride2odd", n: 2, h: 9, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, padding: "SAME"},
		{name: "stride2validOdd", n: 1, h: 7, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, padding: "VALID"},
		{name: "explicit", n: 1, h: 6, w: 5, kh: 3, kw: 3, sh: 1, sw: 2, dh: 1, dw: 1, padding: "EXPLICIT", explicit: []int{2, 0, 1, 3}},
		{name: "dilation2", n: 1, h: 8, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, dh: 2, dw: 2, padding: "SAME"},
		{name: "k5", n: 1, h: 6, w: 6, kh: 5, kw: 5, sh: 2, sw: 1, dh: 1, dw: 1, padding: "SAME"},
		{name: "kernelLargerThanInput", n: 1, h: 2, w: 3, kh: 5, kw: 5, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
	}
	for _, c := range []int{1, 8, 13, 24, 40, 72, 100} {
		for _, g := range geoms {
			g.c, g.out = c, 1
			g.name = g.name + "/c" + itoa(c)
			cs = append(cs, g)
		}
	}
	return cs
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestDepthwiseFastPathMatchesNaive checks the float32 depthwise kernel
// against the float64 direct loop.
func TestDepthwiseFastPathMatchesNaive(t *testing.T) {
	for i, k := range cvWideDepthwiseCases() {
		t.Run(k.name, func(t *testing.T) {
			x := kerneltest.Rand(uint64(5*i), -1, 1, k.n, k.h, k.w, k.c)
			f := kerneltest.Rand(uint64(5*i+1), -1, 1, k.kh, k.kw, k.c, 1)
			node := kerneltest.Node("DepthwiseConv2dNative", 1, k.attrs())
			y32 := kerneltest.MustForward(t, node, cvF32(x), cvF32(f))[0]
			cvAssertClose(t, "float32", y32.Float64s(), cvNaiveDepthwise(k, x.F64, f.F64), 1e-5)
		})
	}
}

// TestFusedFastEpilogue checks the fused bias/batch-norm + ReLU/ReLU6
// epilogue (applied inside the depthwise kernel, and per chunk after the
// GEMM of pointwise and im2col convolutions) against the float64 product
// followed by the reference epilogue, in float32, including outputs large
// enough to be split into chunks and across workers.
func TestFusedFastEpilogue(t *testing.T) {
	ops := [][]string{{"BiasAdd"}, {"BiasAdd", "Relu"}, {"biasadd", "relu6"}, {"FusedBatchNorm"}, {"FusedBatchNorm", "Relu6"}}
	var ps []cvFusedProduct
	for i, k := range cvWideDepthwiseCases() {
		if i%3 != 0 {
			continue
		}
		k := k
		ps = append(ps, cvFusedProduct{"dw/" + k.name, "FusedDepthwiseConv2dNative", k.attrs(),
			kerneltest.Rand(uint64(40+i), -1, 1, k.n, k.h, k.w, k.c), kerneltest.Rand(uint64(41+i), -1, 1, k.kh, k.kw, k.c, 1),
			func(x, f []float64) ([]float64, []int) {
				oh, ow, _, _ := k.outHW()
				return cvNaiveDepthwise(k, x, f), []int{k.n, oh, ow, k.c}
			}})
	}
	for _, k := range []cvCase{
		{name: "pointwiseChunks", n: 2, h: 25, w: 31, c: 9, kh: 1, kw: 1, out: 300, sh: 1, sw: 1, dh: 1, dw: 1, padding: "VALID"},
		{name: "pointwiseSmall", n: 1, h: 3, w: 5, c: 4, kh: 1, kw: 1, out: 6, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
		{name: "stem3x3s2", n: 1, h: 33, w: 31, c: 3, kh: 3, kw: 3, out: 16, sh: 2, sw: 2, dh: 1, dw: 1, padding: "SAME"},
	} {
		k := k
		ps = append(ps, cvFusedProduct{"conv/" + k.name, "_FusedConv2D", k.attrs(),
			kerneltest.Rand(50, -1, 1, k.n, k.h, k.w, k.c), kerneltest.Rand(51, -1, 1, k.kh, k.kw, k.c, k.out),
			func(x, f []float64) ([]float64, []int) {
				oh, ow, _, _ := k.outHW()
				return cvNaiveConv(k, x, f), []int{k.n, oh, ow, k.out}
			}})
	}
	for _, p := range ps {
		for _, o := range ops {
			t.Run(p.name+"/"+strings.Join(o, "+"), func(t *testing.T) {
				prod, shape := p.ref(p.x.F64, p.f.F64)
				args, epi := cvFusedArgs(o, shape, 1)
				epi(prod)
				in32 := []*tensor.Tensor{cvF32(p.x), cvF32(p.f)}
				for _, a := range args {
					in32 = append(in32, cvF32(a))
				}
				y := kerneltest.MustForward(t, cvFusedNode(p, o, len(args)), in32...)[0]
				if !tensor.SameShape(y.Shape, shape) {
					t.Fatalf("shape %v, want %v", y.Shape, shape)
				}
				cvAssertClose(t, "float32", y.Float64s(), prod, 2e-5)
			})
		}
	}
}

// TestFastPathsPropagateNaN checks that a NaN input reaches the output of
// the fused depthwise kernel through ReLU6, as applyActivation does.
func TestFastPathsPropagateNaN(t *testing.T) {
	k := cvCase{n: 1, h: 3, w: 3, c: 16, kh: 3, kw: 3, out: 1, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"}
	x := cvF32(kerneltest.Rand(1, -1, 1, 1, 3, 3, 16))
	x.F32[4*16+5] = float32(math.NaN()) // centre pixel, channel 5
	f := cvF32(kerneltest.Rand(2, -1, 1, 3, 3, 16, 1))
	b := cvF32(kerneltest.Rand(3, -1, 1, 16))
	p := cvFusedProduct{op: "FusedDepthwiseConv2dNative", attrs: k.attrs()}
	y := kerneltest.MustForward(t, cvFusedNode(p, []string{"BiasAdd", "Relu6"}, 1), x, f, b)[0]
	for px := range 9 {
		if v := y.F32[px*16+5]; !math.IsNaN(float64(v)) {
			t.Errorf("pixel %d channel 5 = %g, want NaN", px, v)
		}
		if v := y.F32[px*16+4]; math.IsNaN(float64(v)) || v < 0 || v > 6 {
			t.Errorf("pixel %d channel 4 = %g, want a value in [0, 6]", px, v)
		}
	}
}
