package filters

import (
	"math"
	"math/rand/v2"
)

// colorCorrelation is lucid's square root of the ImageNet RGB colour
// covariance (from its SVD), normalised by the largest column norm:
// decorrelated colour c maps to RGB as rgb = M·c.
var colorCorrelation = func() [3][3]float64 {
	m := [3][3]float64{
		{0.26, 0.09, 0.02},
		{0.27, 0.00, -0.05},
		{0.27, -0.09, 0.03},
	}
	maxNorm := 0.0
	for j := range 3 {
		n := math.Sqrt(m[0][j]*m[0][j] + m[1][j]*m[1][j] + m[2][j]*m[2][j])
		maxNorm = math.Max(maxNorm, n)
	}
	for i := range 3 {
		for j := range 3 {
			m[i][j] /= maxNorm
		}
	}
	return m
}()

// decorrelate maps every pixel of an HWC 3-channel image through
// colorCorrelation, in place.
func decorrelate(img []float64) {
	m := &colorCorrelation
	for p := 0; p+2 < len(img); p += 3 {
		a, b, c := img[p], img[p+1], img[p+2]
		img[p] = m[0][0]*a + m[0][1]*b + m[0][2]*c
		img[p+1] = m[1][0]*a + m[1][1]*b + m[1][2]*c
		img[p+2] = m[2][0]*a + m[2][1]*b + m[2][2]*c
	}
}

// decorrelateT applies the transpose of decorrelate, in place.
func decorrelateT(g []float64) {
	m := &colorCorrelation
	for p := 0; p+2 < len(g); p += 3 {
		a, b, c := g[p], g[p+1], g[p+2]
		g[p] = m[0][0]*a + m[1][0]*b + m[2][0]*c
		g[p+1] = m[0][1]*a + m[1][1]*b + m[2][1]*c
		g[p+2] = m[0][2]*a + m[1][2]*b + m[2][2]*c
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// param is the parameterisation of one image: the numbers the optimiser
// changes, and the differentiable map from them to an sz×sz×c image in
// [0, 1].
type param struct {
	sz, c       int
	fourier     bool
	decorrelate bool
	sigmoid     bool // false: the pixels are the parameters, clipped to [0, 1]
	theta       []float64
	spec        *spectrum
	pre         []float64 // sz*sz*c image before colour and sigmoid
	img         []float64 // sz*sz*c image in [0, 1]
}

func newParam(sz, c int, fourier, decor bool, r *rand.Rand) *param {
	p := &param{sz: sz, c: c, fourier: fourier, decorrelate: decor && c == 3,
		sigmoid: fourier || (decor && c == 3), pre: make([]float64, sz*sz*c), img: make([]float64, sz*sz*c)}
	switch {
	case fourier:
		p.spec = newSpectrum(sz, sz)
		p.theta = make([]float64, c*p.spec.params())
		for i := range p.theta {
			p.theta[i] = 0.01 * r.NormFloat64() // lucid's sd
		}
	case p.sigmoid:
		p.theta = make([]float64, sz*sz*c)
		for i := range p.theta {
			p.theta[i] = 0.01 * r.NormFloat64()
		}
	default:
		// The Keras example's start: grey with uniform noise of ±1/16.
		p.theta = make([]float64, sz*sz*c)
		for i := range p.theta {
			p.theta[i] = 0.5 + (r.Float64()-0.5)/8
		}
	}
	return p
}

// render computes p.img from p.theta.
func (p *param) render() {
	if p.fourier {
		n := p.spec.params()
		for ch := range p.c {
			p.spec.synth(p.theta[ch*n:(ch+1)*n], p.pre, p.c, ch)
		}
	} else {
		copy(p.pre, p.theta)
	}
	copy(p.img, p.pre)
	if p.decorrelate {
		decorrelate(p.img)
	}
	if p.sigmoid {
		for i, v := range p.img {
			p.img[i] = sigmoid(v)
		}
	}
}

// backward turns the gradient g of p.img (as last rendered) into the
// gradient of p.theta, written to gtheta. g is overwritten.
func (p *param) backward(g, gtheta []float64) {
	if p.sigmoid {
		for i, v := range p.img {
			g[i] *= v * (1 - v)
		}
	}
	if p.decorrelate {
		decorrelateT(g)
	}
	if !p.fourier {
		copy(gtheta, g)
		return
	}
	clear(gtheta)
	n := p.spec.params()
	for ch := range p.c {
		p.spec.adjoint(g, p.c, ch, gtheta[ch*n:(ch+1)*n])
	}
}

// blur smooths the parameters with a Gaussian of sigma pixels: in the
// Fourier domain for the spectrum, in image space otherwise.
func (p *param) blur(sigma float64, tmp []float64) {
	if p.fourier {
		n := p.spec.params()
		for ch := range p.c {
			p.spec.blur(p.theta[ch*n:(ch+1)*n], sigma)
		}
		return
	}
	blurImage(p.theta, p.sz, p.sz, p.c, sigma, tmp)
}

// project keeps plain pixel parameters inside [0, 1].
func (p *param) project() {
	if p.sigmoid {
		return
	}
	for i, v := range p.theta {
		p.theta[i] = min(max(v, 0), 1)
	}
}

// totalVariation returns the mean anisotropic total variation of an
// sz×sz×c image, (1/n)·Σ |x[i+1,j]−x[i,j]| + |x[i,j+1]−x[i,j]| over
// pixels and channels, and accumulates −weight times its gradient into g.
func totalVariation(img []float64, sz, c int, weight float64, g []float64) float64 {
	n := float64(sz * sz * c)
	tv := 0.0
	for y := range sz {
		for x := range sz {
			for k := range c {
				i := (y*sz+x)*c + k
				if x+1 < sz {
					d := img[i+c] - img[i]
					tv += math.Abs(d)
					s := sign(d) * weight / n
					g[i+c] -= s
					g[i] += s
				}
				if y+1 < sz {
					d := img[i+sz*c] - img[i]
					tv += math.Abs(d)
					s := sign(d) * weight / n
					g[i+sz*c] -= s
					g[i] += s
				}
			}
		}
	}
	return tv / n
}

// l2Penalty returns the mean squared distance of the image from grey 0.5
// and accumulates −weight times its gradient into g.
func l2Penalty(img []float64, weight float64, g []float64) float64 {
	n := float64(len(img))
	s := 0.0
	for i, v := range img {
		d := v - 0.5
		s += d * d
		g[i] -= weight * 2 * d / n
	}
	return s / n
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// adam is the Adam optimiser (Kingma & Ba 2015) for gradient ascent.
type adam struct {
	lr   float64
	m, v []float64
	t    int
}

func newAdam(n int, lr float64) *adam {
	return &adam{lr: lr, m: make([]float64, n), v: make([]float64, n)}
}

// ascend moves theta up the gradient g.
func (a *adam) ascend(theta, g []float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1 := 1 - math.Pow(b1, float64(a.t))
	c2 := 1 - math.Pow(b2, float64(a.t))
	for i, gi := range g {
		a.m[i] = b1*a.m[i] + (1-b1)*gi
		a.v[i] = b2*a.v[i] + (1-b2)*gi*gi
		theta[i] += a.lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + eps)
	}
}

// normalizedAscend is the Keras example's step, theta += lr·√n·g/‖g‖₂:
// the L2-normalised gradient, scaled so that lr is the root-mean-square
// change per parameter whatever the image size.
func normalizedAscend(theta, g []float64, lr float64) {
	ss := 0.0
	for _, v := range g {
		ss += v * v
	}
	if ss == 0 || math.IsInf(ss, 0) || math.IsNaN(ss) {
		return
	}
	k := lr * math.Sqrt(float64(len(g))/ss)
	for i, v := range g {
		theta[i] += k * v
	}
}
