package filters

import (
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// spectrum is the decorrelated Fourier-space image parameterisation of
// lucid's fft_image: one complex coefficient per frequency of a real 2-D
// inverse FFT (h rows of w/2+1 coefficients, as numpy's irfft2 takes them),
// per channel, scaled by 1/f so that the parameters of every frequency have
// about the same influence on the loss.
//
// Synthesis is, per channel,
//
//	x[m][n] = irfft2(θ ⊙ s)[m][n] / 4,   s[ky][kx] = √(h·w) / max(f(ky,kx), 1/max(h,w))
//
// with irfft2 normalised by 1/(h·w) as numpy and TensorFlow do it, and
// f = √(fy² + fx²) in cycles per pixel.
type spectrum struct {
	h, w, wf int
	scale    []float64 // [h*wf], including √(hw)/(hw)/4
	rows     *fourier.FFT
	cols     *fourier.CmplxFFT
	colBuf   []complex128
	colOut   []complex128
	rowBuf   []complex128
	rowOut   []float64
	mid      []complex128 // [h*wf] after the column pass
}

// spectrumMagic is lucid's final division of the synthesised image.
const spectrumMagic = 4

func newSpectrum(h, w int) *spectrum {
	wf := w/2 + 1
	s := &spectrum{h: h, w: w, wf: wf, scale: make([]float64, h*wf),
		rows: fourier.NewFFT(w), cols: fourier.NewCmplxFFT(h),
		colBuf: make([]complex128, h), colOut: make([]complex128, h),
		rowBuf: make([]complex128, wf), rowOut: make([]float64, w),
		mid: make([]complex128, h*wf)}
	floor := 1 / float64(max(h, w))
	norm := math.Sqrt(float64(h*w)) / float64(h*w) / spectrumMagic
	for ky := range h {
		fy := fftFreq(ky, h)
		for kx := range wf {
			fx := float64(kx) / float64(w)
			f := math.Max(math.Hypot(fy, fx), floor)
			s.scale[ky*wf+kx] = norm / f
		}
	}
	return s
}

// fftFreq is numpy's fftfreq(n)[k]: k/n for the first half, (k−n)/n after.
func fftFreq(k, n int) float64 {
	if k < (n+1)/2 {
		return float64(k) / float64(n)
	}
	return float64(k-n) / float64(n)
}

// params returns the number of real parameters per channel (re, im pairs).
func (s *spectrum) params() int { return 2 * s.h * s.wf }

// synth writes the h×w image of one channel into dst (stride: dst[(m*w+n)*stride+off])
// from the channel's parameters p (re, im interleaved, [h][wf][2]).
func (s *spectrum) synth(p []float64, dst []float64, stride, off int) {
	h, w, wf := s.h, s.w, s.wf
	// Inverse complex DFT along y for each kx column.
	for kx := range wf {
		for ky := range h {
			i := ky*wf + kx
			s.colBuf[ky] = complex(p[2*i]*s.scale[i], p[2*i+1]*s.scale[i])
		}
		s.cols.Sequence(s.colOut, s.colBuf)
		for m := range h {
			s.mid[m*wf+kx] = s.colOut[m]
		}
	}
	// Inverse real DFT along x for each row.
	for m := range h {
		copy(s.rowBuf, s.mid[m*wf:(m+1)*wf])
		s.rows.Sequence(s.rowOut, s.rowBuf)
		for n := range w {
			dst[(m*w+n)*stride+off] = s.rowOut[n]
		}
	}
}

// adjoint accumulates into gp the gradient with respect to one channel's
// parameters, given the gradient g of that channel's synthesised image
// (same layout as synth's dst). It is the exact transpose of synth.
func (s *spectrum) adjoint(g []float64, stride, off int, gp []float64) {
	h, w, wf := s.h, s.w, s.wf
	// Transpose of the real inverse DFT along x: c_k · rfft(g)_k, where
	// c_k = 1 for the DC (and, for even w, Nyquist) bin and 2 elsewhere.
	// The imaginary parts the inverse ignores come out as exactly 0.
	for m := range h {
		for n := range w {
			s.rowOut[n] = g[(m*w+n)*stride+off]
		}
		s.rows.Coefficients(s.rowBuf, s.rowOut)
		for kx := range wf {
			c := 2.0
			if kx == 0 || (w%2 == 0 && kx == w/2) {
				c = 1
			}
			v := s.rowBuf[kx] * complex(c, 0)
			if c == 1 {
				v = complex(real(v), 0)
			}
			s.mid[m*wf+kx] = v
		}
	}
	// Transpose of the complex inverse DFT along y: the forward DFT.
	for kx := range wf {
		for m := range h {
			s.colBuf[m] = s.mid[m*wf+kx]
		}
		s.cols.Coefficients(s.colOut, s.colBuf)
		for ky := range h {
			i := ky*wf + kx
			gp[2*i] += real(s.colOut[ky]) * s.scale[i]
			gp[2*i+1] += imag(s.colOut[ky]) * s.scale[i]
		}
	}
}

// blur multiplies one channel's parameters by the transfer function of a
// Gaussian of standard deviation sigma pixels, exp(−2π²σ²f²): the same as
// a circular Gaussian blur of the synthesised channel.
func (s *spectrum) blur(p []float64, sigma float64) {
	for ky := range s.h {
		fy := fftFreq(ky, s.h)
		for kx := range s.wf {
			fx := float64(kx) / float64(s.w)
			k := math.Exp(-2 * math.Pi * math.Pi * sigma * sigma * (fx*fx + fy*fy))
			i := ky*s.wf + kx
			p[2*i] *= k
			p[2*i+1] *= k
		}
	}
}
