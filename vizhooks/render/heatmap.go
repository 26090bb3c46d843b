package render

import (
	"fmt"
	"image"
	"image/color"

	"image/draw"
	"math"
)

func orJet(cm Colormap) Colormap {
	if cm == nil {
		return Jet
	}
	return cm
}

// Heatmap colours the h×w map m (values in [0, 1]; see Normalizer) with
// cmap, nil meaning Jet. The image has bounds (0, 0)-(w, h) and is opaque.
// It panics if len(m) < h·w or a size is not positive.
func Heatmap(m []float32, h, w int, cmap Colormap) *image.RGBA {
	if h <= 0 || w <= 0 || len(m) < h*w {
		panic(fmt.Sprintf("render.Heatmap: %d values for a %dx%d map", len(m), h, w))
	}
	cmap = orJet(cmap)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	if l, ok := cmap.(*LUT); ok { // fast path: no interface call per pixel
		for i, v := range m[:h*w] {
			c := l.lut[lutIndex(float64(v))]
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c.R, c.G, c.B, 255
		}
		return img
	}
	for i, v := range m[:h*w] {
		c := cmap.At(float64(v))
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c.R, c.G, c.B, 255
	}
	return img
}

// Overlay alpha-blends the colormapped heat over base:
// out = (1−alpha)·base + alpha·cmap(heat), per channel, rounded to the
// nearest 8-bit value. heat holds one value in [0, 1] per pixel of base,
// row-major over base.Bounds() (so it is already at the base image's size:
// see Upsample). alpha is clamped to [0, 1]; 0.5 is a common choice. A
// translucent base is first composited on black. cmap nil means Jet. The
// result is opaque, with bounds (0, 0)-base.Bounds().Size(). It panics if
// len(heat) is not the base image's pixel count.
func Overlay(base image.Image, heat []float32, cmap Colormap, alpha float64) *image.RGBA {
	b := base.Bounds()
	w, h := b.Dx(), b.Dy()
	if len(heat) != w*h {
		panic(fmt.Sprintf("render.Overlay: %d heat values for a %dx%d base image", len(heat), w, h))
	}
	cmap = orJet(cmap)
	if !(alpha > 0) { // also NaN
		alpha = 0
	}
	alpha = math.Min(alpha, 1)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	// Opaque 8-bit copy of base (composited on black).
	if rgba, ok := base.(*image.RGBA); ok && rgba.Opaque() {
		for y := range h {
			copy(out.Pix[y*out.Stride:(y+1)*out.Stride], rgba.Pix[y*rgba.Stride:])
		}
	} else {
		draw.Draw(out, out.Bounds(), image.Black, image.Point{}, draw.Src)
		draw.Draw(out, out.Bounds(), base, b.Min, draw.Over)
	}
	ka := alpha
	kb := 1 - alpha
	lut, _ := cmap.(*LUT)
	for i, v := range heat {
		var c color.RGBA
		if lut != nil {
			c = lut.lut[lutIndex(float64(v))]
		} else {
			c = cmap.At(float64(v))
		}
		p := out.Pix[4*i : 4*i+4 : 4*i+4]
		p[0] = blend(p[0], c.R, kb, ka)
		p[1] = blend(p[1], c.G, kb, ka)
		p[2] = blend(p[2], c.B, kb, ka)
		p[3] = 255
	}
	return out
}

func blend(base, over uint8, kb, ka float64) uint8 {
	return uint8(kb*float64(base) + ka*float64(over) + 0.5) // round half up; both terms ≥ 0
}

// GradientImage renders an input-space gradient (guided backpropagation,
// guided Grad-CAM), h×w with c = 1 (grey) or 3 (RGB) interleaved channels,
// the way the Guided Backprop paper's code and pytorch-grad-cam's
// deprocess_image do: standardise over all values (subtract the mean,
// divide by the population standard deviation + 1e-5), multiply by 0.1,
// add 0.5, clip to [0, 1] and scale to 8 bits by truncation
// (np.uint8(x·255)). Non-finite values count as 0. It panics if c is not 1
// or 3, a size is not positive or len(g) < h·w·c.
func GradientImage(g []float32, h, w, c int) *image.RGBA {
	if (c != 1 && c != 3) || h <= 0 || w <= 0 || len(g) < h*w*c {
		panic(fmt.Sprintf("render.GradientImage: %d values for a %dx%dx%d gradient (channels must be 1 or 3)", len(g), h, w, c))
	}
	n := h * w * c
	val := func(i int) float64 {
		v := float64(g[i])
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0
		}
		return v
	}
	var sum float64
	for i := range n {
		sum += val(i)
	}
	mean := sum / float64(n)
	var ss float64
	for i := range n {
		d := val(i) - mean
		ss += d * d
	}
	scale := 0.1 / (math.Sqrt(ss/float64(n)) + 1e-5)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for p := range h * w {
		var rgb [3]uint8
		for k := range 3 {
			idx := p*c + min(k, c-1)
			x := (val(idx)-mean)*scale + 0.5
			rgb[k] = uint8(math.Max(0, math.Min(1, x)) * 255)
		}
		img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = rgb[0], rgb[1], rgb[2], 255
	}
	return img
}
