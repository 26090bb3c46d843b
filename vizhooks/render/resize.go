package render

import (
	"fmt"
	"math"
)

// ResizeBilinear resizes src, an h×w image of c interleaved channels
// (row-major HWC), to outH×outW with bilinear interpolation using half-pixel
// centres: output pixel (y, x) samples the input at
// ((y+0.5)·h/outH − 0.5, (x+0.5)·w/outW − 0.5), with coordinates clamped to
// the edge pixels. This is TensorFlow's tf.image.resize bilinear
// (half_pixel_centers=True, no antialiasing) and PyTorch's
// interpolate(mode="bilinear", align_corners=False).
//
// The result is written to dst when cap(dst) ≥ outH·outW·c and to a new
// slice otherwise; the returned slice has length outH·outW·c. It panics if
// a size is not positive or len(src) < h·w·c.
func ResizeBilinear(src []float32, h, w, c, outH, outW int, dst []float32) []float32 {
	if h <= 0 || w <= 0 || c <= 0 || outH <= 0 || outW <= 0 {
		panic(fmt.Sprintf("render.ResizeBilinear: sizes %dx%dx%d -> %dx%d must be positive", h, w, c, outH, outW))
	}
	if len(src) < h*w*c {
		panic(fmt.Sprintf("render.ResizeBilinear: %d values for a %dx%dx%d image", len(src), h, w, c))
	}
	n := outH * outW * c
	if cap(dst) >= n {
		dst = dst[:n]
	} else {
		dst = make([]float32, n)
	}
	// Column sampling positions and weights, shared by all rows.
	x0s := make([]int, outW)
	x1s := make([]int, outW)
	xfs := make([]float32, outW)
	for x := range outW {
		x0s[x], x1s[x], xfs[x] = sample(x, w, outW)
	}
	for y := range outH {
		y0, y1, fy := sample(y, h, outH)
		r0 := src[y0*w*c : (y0+1)*w*c]
		r1 := src[y1*w*c : (y1+1)*w*c]
		out := dst[y*outW*c : (y+1)*outW*c]
		for x := range outW {
			a, b, fx := x0s[x]*c, x1s[x]*c, xfs[x]
			for k := range c {
				top := r0[a+k] + (r0[b+k]-r0[a+k])*fx
				bot := r1[a+k] + (r1[b+k]-r1[a+k])*fx
				out[x*c+k] = top + (bot-top)*fy
			}
		}
	}
	return dst
}

// sample returns the two source indices and the interpolation weight of
// the second for output index i of out, reading an axis of size in.
func sample(i, in, out int) (i0, i1 int, f float32) {
	pos := (float64(i)+0.5)*float64(in)/float64(out) - 0.5
	if pos <= 0 {
		return 0, 0, 0
	}
	fl := math.Floor(pos)
	i0 = int(fl)
	if i0 >= in-1 {
		return in - 1, in - 1, 0
	}
	return i0, i0 + 1, float32(pos - fl)
}

// Upsample resizes the single-channel h×w map m to outH×outW with
// ResizeBilinear (half-pixel centres, edges clamped): the usual way a 7×7
// class-activation map is brought to the input image's resolution, for any
// aspect ratio. dst is reused when large enough.
func Upsample(m []float32, h, w, outH, outW int, dst []float32) []float32 {
	return ResizeBilinear(m, h, w, 1, outH, outW, dst)
}
