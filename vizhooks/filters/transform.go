package filters

import (
	"math"
	"math/rand/v2"
)

// affine is a random geometric transform of a square sz×sz image onto an
// oh×ow model input by bilinear sampling: output pixel (i, j) reads the
// source at
//
//	q   = ((j+½)·sz/ow − sz/2, (i+½)·sz/oh − sz/2)   (centred, source pixels)
//	src = R(θ)·q / scale + (sz/2 − ½, sz/2 − ½) − (tx, ty)
//
// so that with θ = 0, scale = 1, t = 0 and sz = ow = oh it is the identity,
// and with sz ≠ ow it is a half-pixel-centre bilinear resize. Source samples
// outside the image read the constant fill value; the linear part (apply
// with fill 0) has the exact transpose applyT.
type affine struct {
	sz, oh, ow int
	cos, sin   float64
	invScale   float64
	tx, ty     float64
	fill       float64
}

// identityAffine maps the sz×sz image onto oh×ow without a random change.
func identityAffine(sz, oh, ow int, fill float64) affine {
	return affine{sz: sz, oh: oh, ow: ow, cos: 1, invScale: 1, fill: fill}
}

// randomAffine draws a transform: translation uniform in [−jitter, jitter]
// source pixels on each axis, zoom uniform in [1−scale, 1+scale], rotation
// uniform in [−rotate, rotate] degrees.
func randomAffine(r *rand.Rand, sz, oh, ow int, fill, jitter, scale, rotate float64) affine {
	a := identityAffine(sz, oh, ow, fill)
	if jitter > 0 {
		a.tx = math.Round((2*r.Float64() - 1) * jitter)
		a.ty = math.Round((2*r.Float64() - 1) * jitter)
	}
	if scale > 0 {
		a.invScale = 1 / (1 + (2*r.Float64()-1)*scale)
	}
	if rotate > 0 {
		th := (2*r.Float64() - 1) * rotate * math.Pi / 180
		a.cos, a.sin = math.Cos(th), math.Sin(th)
	}
	return a
}

// taps calls f for each in-bounds bilinear tap of output pixel (i, j):
// source pixel index (row*sz+col) and weight. It returns the total weight
// of the taps that fell outside the source.
func (a *affine) taps(i, j int, f func(src int, wt float64)) float64 {
	half := float64(a.sz) / 2
	qx := (float64(j)+0.5)*float64(a.sz)/float64(a.ow) - half
	qy := (float64(i)+0.5)*float64(a.sz)/float64(a.oh) - half
	sx := (a.cos*qx-a.sin*qy)*a.invScale + half - 0.5 - a.tx
	sy := (a.sin*qx+a.cos*qy)*a.invScale + half - 0.5 - a.ty
	x0, y0 := math.Floor(sx), math.Floor(sy)
	fx, fy := sx-x0, sy-y0
	out := 0.0
	for dy := 0; dy < 2; dy++ {
		wy := 1 - fy
		if dy == 1 {
			wy = fy
		}
		for dx := 0; dx < 2; dx++ {
			wx := 1 - fx
			if dx == 1 {
				wx = fx
			}
			wt := wy * wx
			if wt == 0 {
				continue
			}
			y, x := int(y0)+dy, int(x0)+dx
			if y < 0 || x < 0 || y >= a.sz || x >= a.sz {
				out += wt
				continue
			}
			f(y*a.sz+x, wt)
		}
	}
	return out
}

// apply samples src (sz×sz×c, HWC) into dst (oh×ow×c), filling
// out-of-bounds taps with the fill value.
func (a *affine) apply(src []float64, c int, dst []float64) {
	for i := range a.oh {
		for j := range a.ow {
			o := (i*a.ow + j) * c
			d := dst[o : o+c]
			clear(d)
			outW := a.taps(i, j, func(s int, wt float64) {
				for k := range c {
					d[k] += wt * src[s*c+k]
				}
			})
			if outW != 0 {
				for k := range c {
					d[k] += outW * a.fill
				}
			}
		}
	}
}

// applyT accumulates into gsrc (sz×sz×c) the transpose of apply's linear
// part applied to g (oh×ow×c): the gradient of the source image.
func (a *affine) applyT(g []float64, c int, gsrc []float64) {
	for i := range a.oh {
		for j := range a.ow {
			o := (i*a.ow + j) * c
			gd := g[o : o+c]
			a.taps(i, j, func(s int, wt float64) {
				for k := range c {
					gsrc[s*c+k] += wt * gd[k]
				}
			})
		}
	}
}

// gaussianKernel returns a normalised 1-D Gaussian of standard deviation
// sigma, truncated at 3σ (radius at least 1).
func gaussianKernel(sigma float64) []float64 {
	r := max(1, int(math.Ceil(3*sigma)))
	k := make([]float64, 2*r+1)
	sum := 0.0
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// blurImage blurs an h×w×c image in place with a separable Gaussian,
// clamping at the borders; tmp has the image's length.
func blurImage(img []float64, h, w, c int, sigma float64, tmp []float64) {
	k := gaussianKernel(sigma)
	r := len(k) / 2
	for y := range h {
		for x := range w {
			for ch := range c {
				s := 0.0
				for t, kv := range k {
					xx := min(max(x+t-r, 0), w-1)
					s += kv * img[(y*w+xx)*c+ch]
				}
				tmp[(y*w+x)*c+ch] = s
			}
		}
	}
	for y := range h {
		for x := range w {
			for ch := range c {
				s := 0.0
				for t, kv := range k {
					yy := min(max(y+t-r, 0), h-1)
					s += kv * tmp[(yy*w+x)*c+ch]
				}
				img[(y*w+x)*c+ch] = s
			}
		}
	}
}
