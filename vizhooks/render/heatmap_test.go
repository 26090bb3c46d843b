package render

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

func TestHeatmapPixels(t *testing.T) {
	m := []float32{0, 0.25, 0.5, 1, -1, float32(math.NaN())}
	for _, cm := range []Colormap{nil, Viridis, customMap{}} {
		img := Heatmap(m, 2, 3, cm)
		if img.Bounds() != image.Rect(0, 0, 3, 2) {
			t.Fatalf("bounds %v", img.Bounds())
		}
		want := cm
		if want == nil {
			want = Jet
		}
		for i, v := range m {
			c := want.At(float64(v))
			c.A = 255
			if got := img.RGBAAt(i%3, i/3); got != c {
				t.Errorf("%v: pixel %d (v=%g) = %v, want %v", cm, i, v, got, c)
			}
		}
	}
}

// customMap is a non-LUT colormap that encodes v in 24 bits.
type customMap struct{}

func (customMap) At(v float64) color.RGBA {
	v = math.Max(0, math.Min(1, v))
	if math.IsNaN(v) {
		v = 0
	}
	k := uint32(math.Round(v * (1<<24 - 1)))
	return color.RGBA{uint8(k >> 16), uint8(k >> 8), uint8(k), 255}
}

func decode24(c color.RGBA) float64 {
	return float64(uint32(c.R)<<16|uint32(c.G)<<8|uint32(c.B)) / (1<<24 - 1)
}

func TestOverlayAlphaMath(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const w, h = 5, 4
	base := image.NewRGBA(image.Rect(10, 20, 10+w, 20+h)) // non-zero origin
	for i := range base.Pix {
		base.Pix[i] = uint8(rng.IntN(256))
	}
	for i := 3; i < len(base.Pix); i += 4 {
		base.Pix[i] = 255
	}
	heat := make([]float32, w*h)
	for i := range heat {
		heat[i] = rng.Float32()
	}
	for _, alpha := range []float64{0, 0.3, 0.5, 1, 1.7, -2} {
		out := Overlay(base, heat, Inferno, alpha)
		if out.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("bounds %v", out.Bounds())
		}
		a := math.Max(0, math.Min(1, alpha))
		for y := range h {
			for x := range w {
				b := base.RGBAAt(10+x, 20+y)
				c := Inferno.At(float64(heat[y*w+x]))
				got := out.RGBAAt(x, y)
				want := color.RGBA{
					uint8(math.Round((1-a)*float64(b.R) + a*float64(c.R))),
					uint8(math.Round((1-a)*float64(b.G) + a*float64(c.G))),
					uint8(math.Round((1-a)*float64(b.B) + a*float64(c.B))),
					255,
				}
				if got != want {
					t.Fatalf("alpha %g pixel (%d,%d): base %v heat %v -> %v, want %v", alpha, x, y, b, c, got, want)
				}
			}
		}
	}
	// A translucent base is composited on black first.
	nb := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nb.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 128})
	got := Overlay(nb, []float32{0}, Gray, 0.5).RGBAAt(0, 0) // gray(0) = black
	// premultiplied: 200*128/255 = 100.4 -> 100; half of it = 50.
	if want := (color.RGBA{50, 25, 13, 255}); absDiff(got, want) > 1 {
		t.Errorf("translucent base overlay = %v, want about %v", got, want)
	}
}

func absDiff(a, b color.RGBA) int {
	d := 0
	for _, p := range [][2]uint8{{a.R, b.R}, {a.G, b.G}, {a.B, b.B}, {a.A, b.A}} {
		d = max(d, int(math.Abs(float64(p[0])-float64(p[1]))))
	}
	return d
}

func TestOverlayPanicsOnWrongSize(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Overlay with too few heat values did not panic")
		}
	}()
	Overlay(image.NewRGBA(image.Rect(0, 0, 3, 3)), make([]float32, 8), nil, 0.5)
}

func TestGradientImage(t *testing.T) {
	// g = [-1, 1]: mean 0, std 1 -> 0.5 ± 0.1/(1+1e-5) -> 0.4000004 and
	// 0.5999996, times 255 truncated: 102 and 152.
	img := GradientImage([]float32{-1, 1}, 1, 2, 1)
	if got := [2]uint8{img.Pix[0], img.Pix[4]}; got != [2]uint8{102, 152} {
		t.Errorf("GradientImage([-1 1]) grey = %v, want [102 152]", got)
	}
	if img.Pix[1] != img.Pix[0] || img.Pix[2] != img.Pix[0] || img.Pix[3] != 255 {
		t.Errorf("grey gradient pixel %v not opaque grey", img.Pix[:4])
	}
	// RGB, one outlier: [0 0 0 0 0 100] (2 pixels × 3): mean 100/6, std
	// sqrt(5·(100/6)² + (500/6)²)/6) = 37.2678; zeros -> 0.5 − 0.04472 =
	// 0.45528 -> 116; 100 -> 0.5 + 0.22361 = 0.72361 -> 184. Computed by
	// hand (numpy agrees).
	img = GradientImage([]float32{0, 0, 0, 0, 0, 100}, 1, 2, 3)
	if got := img.Pix[:8]; got[0] != 116 || got[1] != 116 || got[2] != 116 || got[4] != 116 || got[5] != 116 || got[6] != 184 {
		t.Errorf("GradientImage RGB = %v, want [116 116 116 255 116 116 184 255]", got)
	}
	// Clipping and non-finite values: a huge outlier clips to 255 and NaN
	// counts as 0.
	g := make([]float32, 400)
	g[0] = 1e6
	g[1] = float32(math.NaN())
	img = GradientImage(g, 20, 20, 1)
	if img.Pix[0] != 255 || img.Pix[4] != img.Pix[8] {
		t.Errorf("outlier %d (want 255), NaN %d vs zero %d (want equal)", img.Pix[0], img.Pix[4], img.Pix[8])
	}
	// Constant gradient: standardised to 0 -> 0.5 -> 127.
	img = GradientImage([]float32{3, 3, 3, 3}, 2, 2, 1)
	if img.Pix[0] != 127 {
		t.Errorf("constant gradient -> %d, want 127", img.Pix[0])
	}
}

func BenchmarkHeatmapOverlay224(b *testing.B) {
	m := make([]float32, 49)
	for i := range m {
		m[i] = float32(i % 11)
	}
	base := image.NewRGBA(image.Rect(0, 0, 224, 224))
	var up, norm []float32
	b.ReportAllocs()
	for b.Loop() {
		up = Upsample(m, 7, 7, 224, 224, up)
		norm = MinMax(up, norm)
		_ = Heatmap(norm, 224, 224, Jet)
		_ = Overlay(base, norm, Jet, 0.5)
	}
}
