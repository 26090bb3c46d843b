// Package image registers the native engine's image-resizing kernels,
// ResizeBilinear and ResizeNearestNeighbor over NHWC tensors, with their
// gradients with respect to the image.
//
// Coordinates follow TensorFlow's kernels (resize_bilinear_op.cc,
// resize_nearest_neighbor_op.cc), computed in float32 as TensorFlow does:
// the scale is (in-1)/(out-1) with align_corners (and out > 1), in/out
// otherwise; the legacy mapping takes output pixel i to source i·scale,
// half_pixel_centers to (i+0.5)·scale-0.5 for bilinear and (i+0.5)·scale
// for nearest neighbour. Bilinear interpolates between floor and ceil of
// the source coordinate (clamped to the image); nearest neighbour takes
// round-half-away-from-zero of the source with align_corners and floor
// otherwise, clamped to the image.
//
// ResizeBilinear returns float32 for every input type except float64,
// which it keeps (TensorFlow always returns float32; float64 is kept so
// gradients can be checked in double precision). ResizeNearestNeighbor
// keeps its input's type.
//
// Importing the package registers the kernels (see package kernel).
package image

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("ResizeBilinear", kernel.Def{
		Forward: resizeForward(true), Backward: resizeBackward(true), KeepInputs: []int{0, 1},
	})
	kernel.Register("ResizeNearestNeighbor", kernel.Def{
		Forward: resizeForward(false), Backward: resizeBackward(false), KeepInputs: []int{0, 1},
	})
}

// resizeGeom is one resize: input [n, h, w, c] to [n, oh, ow, c].
type resizeGeom struct {
	n, h, w, c int
	oh, ow     int
	align      bool
	halfPixel  bool
}

func resizeSetup(c *kernel.Context, x, size *tensor.Tensor) (resizeGeom, error) {
	var g resizeGeom
	var err error
	if c.Node.HasAttr("align_corners") {
		if g.align, err = c.Node.AttrBool("align_corners"); err != nil {
			return g, c.Errorf("%v", err)
		}
	}
	if c.Node.HasAttr("half_pixel_centers") {
		if g.halfPixel, err = c.Node.AttrBool("half_pixel_centers"); err != nil {
			return g, c.Errorf("%v", err)
		}
	}
	if g.align && g.halfPixel {
		return g, c.Errorf("half_pixel_centers and align_corners cannot both be true")
	}
	if x.Rank() != 4 {
		return g, c.Errorf("images must be NHWC (rank 4), got shape %s", tensor.ShapeString(x.Shape))
	}
	if x.DType == tensor.String || x.DType == tensor.Bool {
		return g, c.Errorf("images must be numeric, got %v", x.DType)
	}
	if size.Rank() != 1 || size.Len() != 2 {
		return g, c.Errorf("size must be a vector of 2 elements (height, width), got shape %s", tensor.ShapeString(size.Shape))
	}
	s, err := size.Ints()
	if err != nil {
		return g, c.Errorf("size: %v", err)
	}
	g.n, g.h, g.w, g.c = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	g.oh, g.ow = s[0], s[1]
	if g.oh <= 0 || g.ow <= 0 {
		return g, c.Errorf("size %v must be positive", s)
	}
	if (g.h == 0 || g.w == 0) && g.n*g.c > 0 {
		return g, c.Errorf("cannot resize an empty image of shape %s", tensor.ShapeString(x.Shape))
	}
	if err := tensor.CheckShape([]int{g.n, g.oh, g.ow, g.c}); err != nil {
		return g, c.Errorf("output: %v", err)
	}
	return g, nil
}

// resizeScale is TensorFlow's CalculateResizeScale, in float32.
func resizeScale(in, out int, align bool) float32 {
	if align && out > 1 {
		return float32(in-1) / float32(out-1)
	}
	return float32(in) / float32(out)
}

// resizeLinearAxis returns, for each output index along one axis, the
// lower and upper source indices and the interpolation weight of upper.
func resizeLinearAxis(in, out int, align, half bool) (lo, hi []int, lerp []float32) {
	scale := resizeScale(in, out, align)
	lo, hi, lerp = make([]int, out), make([]int, out), make([]float32, out)
	for i := range out {
		var src float32
		if half {
			src = (float32(i)+0.5)*scale - 0.5
		} else {
			src = float32(i) * scale
		}
		f := float32(math.Floor(float64(src)))
		lo[i] = max(int(f), 0)
		hi[i] = min(int(math.Ceil(float64(src))), in-1)
		lerp[i] = src - f
	}
	return lo, hi, lerp
}

// resizeNearestAxis returns the source index of each output index.
func resizeNearestAxis(in, out int, align, half bool) []int {
	scale := resizeScale(in, out, align)
	idx := make([]int, out)
	for i := range out {
		var src float32
		if half {
			src = (float32(i) + 0.5) * scale
		} else {
			src = float32(i) * scale
		}
		var j int
		if align {
			j = int(math.Round(float64(src))) // half away from zero, like roundf
		} else {
			j = int(math.Floor(float64(src)))
		}
		j = min(j, in-1)
		if half {
			j = max(j, 0)
		}
		idx[i] = j
	}
	return idx
}

func bilinear[T tensor.Float](g *resizeGeom, x, y []T) {
	ylo, yhi, yl := resizeLinearAxis(g.h, g.oh, g.align, g.halfPixel)
	xlo, xhi, xl := resizeLinearAxis(g.w, g.ow, g.align, g.halfPixel)
	C := g.c
	// Column offsets and weights, shared by every row.
	xa, xb := make([]int, g.ow), make([]int, g.ow)
	xw := make([]T, g.ow)
	for ox := range g.ow {
		xa[ox], xb[ox], xw[ox] = xlo[ox]*C, xhi[ox]*C, T(xl[ox])
	}
	rowLen := g.w * C
	for b := range g.n {
		img := x[b*g.h*rowLen : (b+1)*g.h*rowLen]
		for oy := range g.oh {
			top := img[ylo[oy]*rowLen : (ylo[oy]+1)*rowLen]
			bot := img[yhi[oy]*rowLen : (yhi[oy]+1)*rowLen]
			dy := T(yl[oy])
			o := (b*g.oh + oy) * g.ow * C
			out := y[o : o+g.ow*C]
			for ox := range g.ow {
				a, bb, dx := xa[ox], xb[ox], xw[ox]
				base := ox * C
				for ch := range C {
					tl, tr := top[a+ch], top[bb+ch]
					bl, br := bot[a+ch], bot[bb+ch]
					t := tl + (tr-tl)*dx
					u := bl + (br-bl)*dx
					out[base+ch] = t + (u-t)*dy
				}
			}
		}
	}
}

func bilinearGrad[T tensor.Float](g *resizeGeom, dy, dx []T) {
	ylo, yhi, yl := resizeLinearAxis(g.h, g.oh, g.align, g.halfPixel)
	xlo, xhi, xl := resizeLinearAxis(g.w, g.ow, g.align, g.halfPixel)
	C := g.c
	for b := range g.n {
		img := dx[b*g.h*g.w*C:]
		for oy := range g.oh {
			wy := T(yl[oy])
			for ox := range g.ow {
				wx := T(xl[ox])
				o := ((b*g.oh+oy)*g.ow + ox) * C
				d := dy[o : o+C]
				corners := [4]struct {
					off int
					w   T
				}{
					{(ylo[oy]*g.w + xlo[ox]) * C, (1 - wy) * (1 - wx)},
					{(ylo[oy]*g.w + xhi[ox]) * C, (1 - wy) * wx},
					{(yhi[oy]*g.w + xlo[ox]) * C, wy * (1 - wx)},
					{(yhi[oy]*g.w + xhi[ox]) * C, wy * wx},
				}
				for _, k := range corners {
					row := img[k.off : k.off+C]
					for ch, v := range d {
						row[ch] += v * k.w
					}
				}
			}
		}
	}
}

// nearestTables returns the flat source offset (in units of pixels within
// an image) of each output pixel.
func nearestPixels(g *resizeGeom) []int {
	yi := resizeNearestAxis(g.h, g.oh, g.align, g.halfPixel)
	xi := resizeNearestAxis(g.w, g.ow, g.align, g.halfPixel)
	px := make([]int, g.oh*g.ow)
	for oy, sy := range yi {
		for ox, sx := range xi {
			px[oy*g.ow+ox] = sy*g.w + sx
		}
	}
	return px
}

func resizeForward(bilin bool) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if len(in) != 2 || in[0] == nil || in[1] == nil {
			return nil, c.Errorf("expected 2 inputs (images, size)")
		}
		x := in[0]
		g, err := resizeSetup(c, x, in[1])
		if err != nil {
			return nil, err
		}
		if !bilin {
			return []*tensor.Tensor{nearest(&g, x)}, nil
		}
		if x.DType != tensor.Float64 && x.DType != tensor.Float32 {
			if x, err = x.Cast(tensor.Float32); err != nil {
				return nil, c.Errorf("%v", err)
			}
		}
		y := tensor.New(x.DType, g.n, g.oh, g.ow, g.c)
		if x.Len() == 0 {
			return []*tensor.Tensor{y}, nil
		}
		if x.DType == tensor.Float32 {
			bilinear(&g, x.F32, y.F32)
		} else {
			bilinear(&g, x.F64, y.F64)
		}
		return []*tensor.Tensor{y}, nil
	}
}

// nearest copies pixels of any numeric dtype.
func nearest(g *resizeGeom, x *tensor.Tensor) *tensor.Tensor {
	y := tensor.New(x.DType, g.n, g.oh, g.ow, g.c)
	if x.Len() == 0 {
		return y
	}
	px := nearestPixels(g)
	C := g.c
	for b := range g.n {
		for o, p := range px {
			dst := (b*g.oh*g.ow + o) * C
			src := (b*g.h*g.w + p) * C
			switch x.DType {
			case tensor.Float32:
				copy(y.F32[dst:dst+C], x.F32[src:src+C])
			case tensor.Float64:
				copy(y.F64[dst:dst+C], x.F64[src:src+C])
			case tensor.Int32:
				copy(y.I32[dst:dst+C], x.I32[src:src+C])
			case tensor.Int64:
				copy(y.I64[dst:dst+C], x.I64[src:src+C])
			case tensor.Uint8:
				copy(y.U8[dst:dst+C], x.U8[src:src+C])
			}
		}
	}
	return y
}

func nearestGrad[T tensor.Float](g *resizeGeom, dy, dx []T) {
	px := nearestPixels(g)
	C := g.c
	for b := range g.n {
		for o, p := range px {
			d := dy[(b*g.oh*g.ow+o)*C:][:C]
			row := dx[(b*g.h*g.w+p)*C:][:C]
			for ch, v := range d {
				row[ch] += v
			}
		}
	}
}

func resizeBackward(bilin bool) kernel.BackwardFunc {
	return func(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		dy := dout[0]
		if dy == nil || !dy.DType.IsFloat() {
			return []*tensor.Tensor{nil, nil}, nil
		}
		x := in[0]
		g, err := resizeSetup(c, x, in[1])
		if err != nil {
			return nil, err
		}
		if !tensor.SameShape(dy.Shape, []int{g.n, g.oh, g.ow, g.c}) {
			return nil, c.Errorf("gradient has shape %s, output has %s", tensor.ShapeString(dy.Shape), tensor.ShapeString([]int{g.n, g.oh, g.ow, g.c}))
		}
		if !x.DType.IsFloat() {
			return []*tensor.Tensor{nil, nil}, nil // integer images have no gradient
		}
		dx := tensor.New(dy.DType, x.Shape...)
		if dx.Len() > 0 {
			switch {
			case bilin && dy.DType == tensor.Float32:
				bilinearGrad(&g, dy.F32, dx.F32)
			case bilin:
				bilinearGrad(&g, dy.F64, dx.F64)
			case dy.DType == tensor.Float32:
				nearestGrad(&g, dy.F32, dx.F32)
			default:
				nearestGrad(&g, dy.F64, dx.F64)
			}
		}
		if dx.DType != x.DType {
			if dx, err = dx.Cast(x.DType); err != nil {
				return nil, c.Errorf("%v", err)
			}
		}
		return []*tensor.Tensor{dx, nil}, nil
	}
}
