package filters

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

func randVec(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// naiveSynth is numpy's irfft2 written from its definition: an inverse
// complex DFT along y, Y[m][kx] = (1/h) Σ_ky X[ky][kx] e^{2πi·ky·m/h}, then a
// real inverse DFT along x, x[m][n] = (1/w) Σ_kx c_kx Re(Y[m][kx] e^{2πi·kx·n/w})
// with c = 1 for the DC and (even w) Nyquist bins and 2 for the others.
func naiveSynth(p []float64, h, w int, scale []float64) []float64 {
	wf := w/2 + 1
	out := make([]float64, h*w)
	for m := range h {
		for n := range w {
			s := 0.0
			for kx := range wf {
				var y complex128
				for ky := range h {
					i := ky*wf + kx
					x := complex(p[2*i]*scale[i], p[2*i+1]*scale[i])
					y += x * cmplx.Exp(complex(0, 2*math.Pi*float64(ky*m)/float64(h)))
				}
				y /= complex(float64(h), 0)
				c := 2.0
				if kx == 0 || (w%2 == 0 && kx == w/2) {
					c = 1
				}
				s += c * real(y*cmplx.Exp(complex(0, 2*math.Pi*float64(kx*n)/float64(w))))
			}
			out[m*w+n] = s / float64(w)
		}
	}
	return out
}

func TestSpectrumSynthMatchesNaiveIRFFT2(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, hw := range [][2]int{{6, 6}, {5, 7}, {8, 5}, {4, 9}} {
		h, w := hw[0], hw[1]
		s := newSpectrum(h, w)
		p := randVec(r, s.params())
		got := make([]float64, h*w)
		s.synth(p, got, 1, 0)
		// The lucid weights before irfft2's own 1/(h·w).
		lucid := make([]float64, len(s.scale))
		for i, v := range s.scale {
			lucid[i] = v * float64(h*w)
		}
		want := naiveSynth(p, h, w, lucid)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
				t.Fatalf("%dx%d: pixel %d: got %g, naive %g", h, w, i, got[i], want[i])
			}
		}
	}
}

// TestSpectrumScaleIsLucids checks the 1/f weights against the formula
// written out by hand for a 4×4 image: f = hypot(fy, fx) with fftfreq, floored
// at 1/4, times √16/16/4.
func TestSpectrumScaleIsLucids(t *testing.T) {
	s := newSpectrum(4, 4)
	fy := []float64{0, 0.25, -0.5, -0.25}
	fx := []float64{0, 0.25, 0.5}
	for ky := range 4 {
		for kx := range 3 {
			f := math.Max(math.Hypot(fy[ky], fx[kx]), 0.25)
			want := 4.0 / 16 / 4 / f
			if got := s.scale[ky*3+kx]; math.Abs(got-want) > 1e-15 {
				t.Errorf("scale[%d][%d] = %g, want %g", ky, kx, got, want)
			}
		}
	}
}

func TestSpectrumAdjointDotProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, hw := range [][2]int{{6, 6}, {5, 7}, {8, 5}, {16, 16}} {
		h, w := hw[0], hw[1]
		s := newSpectrum(h, w)
		// Two interleaved channels exercise stride and offset.
		p := randVec(r, s.params())
		y := randVec(r, 2*h*w)
		ax := make([]float64, 2*h*w)
		s.synth(p, ax, 2, 1)
		aty := make([]float64, s.params())
		s.adjoint(y, 2, 1, aty)
		lhs := 0.0
		for i := range h * w {
			lhs += ax[2*i+1] * y[2*i+1]
		}
		if rhs := dot(p, aty); math.Abs(lhs-rhs) > 1e-10*(math.Abs(lhs)+1) {
			t.Errorf("%dx%d: <Ax,y> = %.15g, <x,Aᵀy> = %.15g", h, w, lhs, rhs)
		}
	}
}

func TestAffineAdjointDotProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i, shape := range [][3]int{{8, 8, 8}, {10, 7, 9}, {12, 12, 12}, {9, 16, 16}} {
		sz, oh, ow := shape[0], shape[1], shape[2]
		for trial := range 5 {
			a := randomAffine(r, sz, oh, ow, 0, 3, 0.3, 30)
			const c = 3
			x := randVec(r, sz*sz*c)
			y := randVec(r, oh*ow*c)
			ax := make([]float64, oh*ow*c)
			a.apply(x, c, ax)
			aty := make([]float64, sz*sz*c)
			a.applyT(y, c, aty)
			lhs, rhs := dot(ax, y), dot(x, aty)
			if math.Abs(lhs-rhs) > 1e-10*(math.Abs(lhs)+1) {
				t.Errorf("case %d trial %d: <Ax,y> = %.15g, <x,Aᵀy> = %.15g", i, trial, lhs, rhs)
			}
		}
	}
}

// TestAffineFill: apply is affine, A(x) = L(x) + fill·(1 − L(1)), so the
// fill shows where the transform looks outside the image.
func TestAffineFill(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a := randomAffine(r, 8, 8, 8, 0.25, 4, 0.3, 40)
	const c = 1
	x := randVec(r, 64)
	ones := make([]float64, 64)
	for i := range ones {
		ones[i] = 1
	}
	withFill := make([]float64, 64)
	a.apply(x, c, withFill)
	a.fill = 0
	lx, l1 := make([]float64, 64), make([]float64, 64)
	a.apply(x, c, lx)
	a.apply(ones, c, l1)
	outside := 0
	for i := range withFill {
		want := lx[i] + 0.25*(1-l1[i])
		if math.Abs(withFill[i]-want) > 1e-12 {
			t.Fatalf("pixel %d: %g, want %g", i, withFill[i], want)
		}
		if l1[i] < 1-1e-9 {
			outside++
		}
	}
	if outside == 0 {
		t.Error("a 4-pixel shift with 40° rotation never looked outside the 8x8 image")
	}
}

func TestAffineIdentityAndResize(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := randVec(r, 7*7*3)
	a := identityAffine(7, 7, 7, 0.5)
	y := make([]float64, len(x))
	a.apply(x, 3, y)
	for i := range x {
		if math.Abs(x[i]-y[i]) > 1e-12 {
			t.Fatalf("identity: pixel %d: %g, want %g", i, y[i], x[i])
		}
	}
	// Upsampling 2→4 with half-pixel centres: output j reads source
	// (j+0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25; the outer taps fall a
	// quarter outside and read the fill.
	a = identityAffine(2, 1, 4, 10)
	src := []float64{0, 4, 0, 4} // rows 0 and 1 equal
	dst := make([]float64, 4)
	// The single output row's centre is source row 0.5: both rows, half each.
	a.apply(src, 1, dst)
	want := []float64{0.25*10 + 0.75*0, 1, 3, 0.75*4 + 0.25*10}
	for i := range want {
		if math.Abs(dst[i]-want[i]) > 1e-12 {
			t.Errorf("resize: %v, want %v", dst, want)
			break
		}
	}
}

func TestDecorrelateTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x, y := randVec(r, 30), randVec(r, 30)
	ax := append([]float64(nil), x...)
	decorrelate(ax)
	aty := append([]float64(nil), y...)
	decorrelateT(aty)
	if lhs, rhs := dot(ax, y), dot(x, aty); math.Abs(lhs-rhs) > 1e-12 {
		t.Errorf("<Ax,y> = %g, <x,Aᵀy> = %g", lhs, rhs)
	}
	// Largest column norm 1, as lucid normalises it.
	best := 0.0
	for j := range 3 {
		n := 0.0
		for i := range 3 {
			n += colorCorrelation[i][j] * colorCorrelation[i][j]
		}
		best = math.Max(best, math.Sqrt(n))
	}
	if math.Abs(best-1) > 1e-12 || math.Abs(colorCorrelation[0][0]-0.26/math.Sqrt(0.26*0.26+0.27*0.27+0.27*0.27)) > 1e-12 {
		t.Errorf("colour matrix %v", colorCorrelation)
	}
}

// TestParamBackwardFiniteDifferences checks the full parameterisation
// (spectrum or pixels, colour, sigmoid) against central differences of
// L = Σ w·img.
func TestParamBackwardFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name           string
		fourier, decor bool
		c              int
	}{{"fourier+decorrelate", true, true, 3}, {"fourier gray", true, false, 1}, {"pixel+decorrelate", false, true, 3}} {
		r := rand.New(rand.NewPCG(13, 14))
		p := newParam(6, tc.c, tc.fourier, tc.decor, r)
		for i := range p.theta {
			p.theta[i] = r.NormFloat64() // away from the flat start
		}
		w := randVec(r, len(p.img))
		loss := func() float64 { p.render(); return dot(w, p.img) }
		loss()
		g := append([]float64(nil), w...)
		gt := make([]float64, len(p.theta))
		p.backward(g, gt)
		const eps = 1e-6
		for _, i := range []int{0, 1, 5, len(p.theta) / 2, len(p.theta) - 1} {
			old := p.theta[i]
			p.theta[i] = old + eps
			lp := loss()
			p.theta[i] = old - eps
			lm := loss()
			p.theta[i] = old
			fd := (lp - lm) / (2 * eps)
			if math.Abs(fd-gt[i]) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("%s: dL/dθ[%d] = %g, finite differences %g", tc.name, i, gt[i], fd)
			}
		}
	}
}

func TestPenaltyGradientsFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	const sz, c = 5, 2
	img := make([]float64, sz*sz*c)
	for i := range img {
		img[i] = r.Float64()
	}
	g := make([]float64, len(img))
	tv := totalVariation(img, sz, c, 1, g)
	g2 := make([]float64, len(img))
	l2 := l2Penalty(img, 1, g2)
	// Naive TV.
	want := 0.0
	for y := range sz {
		for x := range sz {
			for k := range c {
				if x+1 < sz {
					want += math.Abs(img[(y*sz+x+1)*c+k] - img[(y*sz+x)*c+k])
				}
				if y+1 < sz {
					want += math.Abs(img[((y+1)*sz+x)*c+k] - img[(y*sz+x)*c+k])
				}
			}
		}
	}
	if math.Abs(tv-want/float64(len(img))) > 1e-12 {
		t.Errorf("TV = %g, want %g", tv, want/float64(len(img)))
	}
	const eps = 1e-7
	for i := range img {
		old := img[i]
		img[i] = old + eps
		tp := totalVariation(img, sz, c, 1, make([]float64, len(img)))
		lp := l2Penalty(img, 1, make([]float64, len(img)))
		img[i] = old - eps
		tm := totalVariation(img, sz, c, 1, make([]float64, len(img)))
		lm := l2Penalty(img, 1, make([]float64, len(img)))
		img[i] = old
		if fd := -(tp - tm) / (2 * eps); math.Abs(fd-g[i]) > 1e-6 {
			t.Errorf("TV grad[%d] = %g, fd %g", i, g[i], fd)
		}
		if fd := -(lp - lm) / (2 * eps); math.Abs(fd-g2[i]) > 1e-6 {
			t.Errorf("L2 grad[%d] = %g, fd %g", i, g2[i], fd)
		}
	}
	_ = l2
}

func TestSpectrumBlurIsGaussian(t *testing.T) {
	// A single frequency is attenuated by exp(−2π²σ²f²); the DC term is
	// left alone.
	s := newSpectrum(8, 8)
	p := make([]float64, s.params())
	for i := range p {
		p[i] = 1
	}
	s.blur(p, 1.5)
	if p[0] != 1 || p[1] != 1 {
		t.Errorf("DC changed: %g %g", p[0], p[1])
	}
	i := 1*s.wf + 2 // fy = 1/8, fx = 2/8
	want := math.Exp(-2 * math.Pi * math.Pi * 1.5 * 1.5 * (1.0/64 + 4.0/64))
	if math.Abs(p[2*i]-want) > 1e-15 {
		t.Errorf("attenuation %g, want %g", p[2*i], want)
	}
}

func TestBlurImageKeepsConstantsAndSmooths(t *testing.T) {
	const h, w = 6, 7
	img := make([]float64, h*w)
	for i := range img {
		img[i] = 0.3
	}
	blurImage(img, h, w, 1, 1, make([]float64, h*w))
	for _, v := range img {
		if math.Abs(v-0.3) > 1e-12 {
			t.Fatalf("constant image changed: %g", v)
		}
	}
	img = make([]float64, h*w)
	img[3*w+3] = 1
	blurImage(img, h, w, 1, 1, make([]float64, h*w))
	if img[3*w+3] >= 0.5 || img[3*w+4] <= 0 || math.Abs(img[3*w+4]-img[3*w+2]) > 1e-12 {
		t.Errorf("impulse after blur: centre %g, neighbours %g %g", img[3*w+3], img[3*w+2], img[3*w+4])
	}
}

func TestNormalizedAscendStepSize(t *testing.T) {
	theta := make([]float64, 4)
	normalizedAscend(theta, []float64{3, 0, 0, 4}, 0.1)
	// ‖g‖ = 5, √n = 2: step 0.1·2/5·g.
	want := []float64{0.12, 0, 0, 0.16}
	for i := range want {
		if math.Abs(theta[i]-want[i]) > 1e-15 {
			t.Fatalf("theta = %v, want %v", theta, want)
		}
	}
}
