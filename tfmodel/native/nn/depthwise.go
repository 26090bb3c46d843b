package nn

import (
	"math"
	"unsafe"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("DepthwiseConv2dNative", kernel.Def{
		Forward:    depthwiseKernelForward,
		Backward:   depthwiseKernelBackward,
		KeepInputs: []int{0, 1},
		Check:      checkConv2D,
	})
}

// depthwiseSetup validates a depthwise convolution's input [n,h,w,c] and
// filter [kh,kw,c,mult] and computes its geometry (output channels c·mult,
// channel ci·mult+m from input channel ci).
func depthwiseSetup(c *kernel.Context, x, f *tensor.Tensor) (convGeom, error) {
	g, err := conv2DSetup(c, x, f)
	if err != nil {
		return g, err
	}
	g.mult = f.Shape[3]
	g.outCh = g.c * g.mult
	if err := tensor.CheckShape(g.outShape()); err != nil {
		return g, c.Errorf("output: %v", err)
	}
	return g, nil
}

// depthwiseCompute writes the depthwise convolution of x with f into out,
// then applies epi (optional) to it. Rows of output pixels are split
// across workers; the innermost loop runs over channels, contiguous in
// NHWC. float32 with multiplier 1 runs on the AVX2 kernel where there is
// one.
func depthwiseCompute[T tensor.Float](g *convGeom, x, f, out []T, epi *epilogue[T]) {
	if g.mult == 1 && haveDWKernel {
		if x32, ok := any(x).([]float32); ok {
			depthwiseFast32(g, x32, any(f).([]float32), any(out).([]float32), any(epi).(*epilogue[float32]))
			return
		}
	}
	c, m, oc := g.c, g.mult, g.outCh
	nnParallelFor(g.n*g.oh, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/g.oh, r%g.oh
			orow := out[r*g.ow*oc : (r+1)*g.ow*oc]
			clear(orow)
			for ox := 0; ox < g.ow; ox++ {
				o := orow[ox*oc : (ox+1)*oc]
				for kh := 0; kh < g.kh; kh++ {
					ih := oy*g.sh - g.padT + kh*g.dh
					if ih < 0 || ih >= g.h {
						continue
					}
					for kw := 0; kw < g.kw; kw++ {
						iw := ox*g.sw - g.padL + kw*g.dw
						if iw < 0 || iw >= g.w {
							continue
						}
						xi := ((n*g.h+ih)*g.w + iw) * c
						xv := x[xi : xi+c]
						fv := f[(kh*g.kw+kw)*oc : (kh*g.kw+kw+1)*oc]
						if m == 1 {
							fv = fv[:len(xv)]
							o := o[:len(xv)]
							for ci, v := range xv {
								o[ci] += v * fv[ci]
							}
							continue
						}
						for ci, v := range xv {
							fm := fv[ci*m : ci*m+m]
							om := o[ci*m : ci*m+m]
							for j := range om {
								om[j] += v * fm[j]
							}
						}
					}
				}
			}
			if epi != nil {
				epi.apply(orow)
			}
		}
	})
}

// depthwiseFast32 is depthwiseCompute for float32 with multiplier 1 on
// the AVX2 kernel: for each output pixel it lists the taps inside the
// input (padding contributes nothing) and runs the kernel over the
// channels, epilogue included.
func depthwiseFast32(g *convGeom, x, f, out []float32, epi *epilogue[float32]) {
	c := g.c
	if c == 0 || len(out) == 0 {
		return
	}
	e := epilogue[float32]{mult: make([]float32, c), shift: make([]float32, c), lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
	if epi != nil {
		e.lo, e.hi = epi.lo, epi.hi
		copy(e.shift, epi.shift)
	}
	if epi != nil && epi.mult != nil {
		copy(e.mult, epi.mult)
	} else {
		for i := range e.mult {
			e.mult[i] = 1
		}
	}
	c8 := c &^ 7
	ntap := g.kh * g.kw
	nnParallelFor(g.n*g.oh, 1, func(lo, hi int) {
		xs := make([]unsafe.Pointer, ntap)
		fs := make([]unsafe.Pointer, ntap)
		xo := make([]int, ntap)
		fo := make([]int, ntap)
		for r := lo; r < hi; r++ {
			n, oy := r/g.oh, r%g.oh
			for ox := 0; ox < g.ow; ox++ {
				t := 0
				for kh := 0; kh < g.kh; kh++ {
					ih := oy*g.sh - g.padT + kh*g.dh
					if ih < 0 || ih >= g.h {
						continue
					}
					for kw := 0; kw < g.kw; kw++ {
						iw := ox*g.sw - g.padL + kw*g.dw
						if iw < 0 || iw >= g.w {
							continue
						}
						xi := ((n*g.h+ih)*g.w + iw) * c
						fi := (kh*g.kw + kw) * c
						_, _ = x[xi+c-1], f[fi+c-1]
						xo[t], fo[t] = xi, fi
						xs[t], fs[t] = unsafe.Pointer(&x[xi]), unsafe.Pointer(&f[fi])
						t++
					}
				}
				o := out[(r*g.ow+ox)*c : (r*g.ow+ox+1)*c]
				j0 := 0
				if t > 0 && c8 > 0 {
					dwPixelAVX2(c8, t, &xs[0], &fs[0], &e.mult[0], &e.shift[0], &o[0], e.lo, e.hi)
					j0 = c8
				}
				for j := j0; j < c; j++ {
					var s float32
					for k := range t {
						s += x[xo[k]+j] * f[fo[k]+j]
					}
					o[j] = min(max(s*e.mult[j]+e.shift[j], e.lo), e.hi)
				}
			}
		}
	})
}

// depthwiseGrad computes dx and df (overwritten; either may be nil) from
// dy. Channels are split across workers, so no two workers write the same
// element of dx or df.
func depthwiseGrad[T tensor.Float](g *convGeom, x, f, dy, dx, df []T) {
	c, m, oc := g.c, g.mult, g.outCh
	if dx != nil {
		clear(dx)
	}
	if df != nil {
		clear(df)
	}
	nnParallelFor(c, 8, func(c0, c1 int) {
		for n := 0; n < g.n; n++ {
			for oy := 0; oy < g.oh; oy++ {
				for ox := 0; ox < g.ow; ox++ {
					gi := ((n*g.oh+oy)*g.ow + ox) * oc
					gv := dy[gi+c0*m : gi+c1*m]
					for kh := 0; kh < g.kh; kh++ {
						ih := oy*g.sh - g.padT + kh*g.dh
						if ih < 0 || ih >= g.h {
							continue
						}
						for kw := 0; kw < g.kw; kw++ {
							iw := ox*g.sw - g.padL + kw*g.dw
							if iw < 0 || iw >= g.w {
								continue
							}
							xi := ((n*g.h+ih)*g.w + iw) * c
							fi := (kh*g.kw + kw) * oc
							xv := x[xi+c0 : xi+c1]
							fv := f[fi+c0*m : fi+c1*m]
							if dx != nil {
								dxv := dx[xi+c0 : xi+c1]
								if m == 1 {
									fv, gv := fv[:len(dxv)], gv[:len(dxv)]
									for j := range dxv {
										dxv[j] += gv[j] * fv[j]
									}
								} else {
									for j := range dxv {
										var s T
										for k := j * m; k < j*m+m; k++ {
											s += gv[k] * fv[k]
										}
										dxv[j] += s
									}
								}
							}
							if df != nil {
								dfv := df[fi+c0*m : fi+c1*m]
								if m == 1 {
									xv, gv := xv[:len(dfv)], gv[:len(dfv)]
									for j := range dfv {
										dfv[j] += gv[j] * xv[j]
									}
								} else {
									for j, v := range xv {
										for k := j * m; k < j*m+m; k++ {
											dfv[k] += gv[k] * v
										}
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

func depthwiseKernelForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 {
		return nil, c.Errorf("want 2 inputs (input, filter), got %d", len(in))
	}
	g, err := depthwiseSetup(c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	out := c.Output(in[0].DType, g.outShape()...)
	if in[0].DType == tensor.Float32 {
		depthwiseCompute(&g, in[0].F32, in[1].F32, out.F32, nil)
	} else {
		depthwiseCompute(&g, in[0].F64, in[1].F64, out.F64, nil)
	}
	return []*tensor.Tensor{out}, nil
}

func depthwiseKernelBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 || len(dout) != 1 {
		return nil, c.Errorf("backward wants 2 inputs and 1 output gradient")
	}
	if dout[0] == nil {
		return []*tensor.Tensor{nil, nil}, nil
	}
	g, err := depthwiseSetup(c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	if err := checkGradShape(c, dout[0], in[0].DType, g.outShape()); err != nil {
		return nil, err
	}
	dx, df := tensor.NewLike(in[0]), tensor.NewLike(in[1])
	if in[0].DType == tensor.Float32 {
		depthwiseGrad(&g, in[0].F32, in[1].F32, dout[0].F32, dx.F32, df.F32)
	} else {
		depthwiseGrad(&g, in[0].F64, in[1].F64, dout[0].F64, dx.F64, df.F64)
	}
	return []*tensor.Tensor{dx, df}, nil
}

// isDepthwiseOp reports whether op is one of the depthwise convolutions.
func isDepthwiseOp(n *graph.Node) bool {
	return n.Op == "DepthwiseConv2dNative" || n.Op == "_FusedDepthwiseConv2dNative" || n.Op == "FusedDepthwiseConv2dNative"
}
