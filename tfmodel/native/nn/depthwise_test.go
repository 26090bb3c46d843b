package nn

import (
	"testing"

	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// cvNaiveDepthwise is a direct loop depthwise convolution in float64:
// output channel ci*mult+m is input channel ci convolved with f[..., ci, m].
func cvNaiveDepthwise(k cvCase, x, f []float64) []float64 {
	oh, ow, pt, pl := k.outHW()
	m := k.out
	y := make([]float64, k.n*oh*ow*k.c*m)
	for b := 0; b < k.n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for ci := 0; ci < k.c; ci++ {
					for q := 0; q < m; q++ {
						var s float64
						for di := 0; di < k.kh; di++ {
							for dj := 0; dj < k.kw; dj++ {
								ii := i*k.sh + di*k.dh - pt
								jj := j*k.sw + dj*k.dw - pl
								if ii < 0 || ii >= k.h || jj < 0 || jj >= k.w {
									continue
								}
								s += x[((b*k.h+ii)*k.w+jj)*k.c+ci] * f[((di*k.kw+dj)*k.c+ci)*m+q]
							}
						}
						y[((b*oh+i)*ow+j)*k.c*m+ci*m+q] = s
					}
				}
			}
		}
	}
	return y
}

// cvDepthwiseCases reuse the Conv2D configurations with out as the channel
// multiplier (1 and 2), plus a wide-channel case that splits channels
// across workers in the backward pass.
func cvDepthwiseCases() []cvCase {
	var cs []cvCase
	for i, k := range cvCases {
		k.out = 1 + i%2
		cs = append(cs, k)
	}
	cs = append(cs, cvCase{name: "manyChannels", n: 2, h: 5, w: 4, c: 20, kh: 3, kw: 3, out: 1, sh: 2, sw: 1, dh: 1, dw: 1, padding: "SAME"},
		cvCase{name: "manyChannelsMult2", n: 1, h: 4, w: 4, c: 17, kh: 3, kw: 3, out: 2, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"})
	return cs
}

func TestDepthwiseForwardMatchesNaive(t *testing.T) {
	for i, k := range cvDepthwiseCases() {
		t.Run(k.name, func(t *testing.T) {
			x := kerneltest.Rand(uint64(3*i), -1, 1, k.n, k.h, k.w, k.c)
			f := kerneltest.Rand(uint64(3*i+1), -1, 1, k.kh, k.kw, k.c, k.out)
			node := kerneltest.Node("DepthwiseConv2dNative", 1, k.attrs())
			y := kerneltest.MustForward(t, node, x, f)[0]
			oh, ow, _, _ := k.outHW()
			if !tensor.SameShape(y.Shape, []int{k.n, oh, ow, k.c * k.out}) {
				t.Fatalf("output shape %v, want %v", y.Shape, []int{k.n, oh, ow, k.c * k.out})
			}
			cvAssertClose(t, "float64", y.F64, cvNaiveDepthwise(k, x.F64, f.F64), 1e-12)
			y32 := kerneltest.MustForward(t, node, cvF32(x), cvF32(f))[0]
			cvAssertClose(t, "float32", y32.Float64s(), y.F64, 1e-5)
		})
	}
}

func TestDepthwiseGrad(t *testing.T) {
	for i, k := range cvDepthwiseCases() {
		t.Run(k.name, func(t *testing.T) {
			x := kerneltest.Rand(uint64(3*i), -1, 1, k.n, k.h, k.w, k.c)
			f := kerneltest.Rand(uint64(3*i+1), -1, 1, k.kh, k.kw, k.c, k.out)
			kerneltest.CheckGrad(t, kerneltest.Node("DepthwiseConv2dNative", 1, k.attrs()), []*tensor.Tensor{x, f}, kerneltest.GradOptions{Seed: uint64(i)})
		})
	}
}
