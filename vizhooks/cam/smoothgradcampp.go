package cam

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// SmoothGradCAMPP is Smooth Grad-CAM++ (Omeiza et al. 2019): Grad-CAM++
// whose derivative maps are averaged over N noisy copies of the input,
// x + ε, ε ~ N(0, σ²) per pixel (SmoothGrad). With g⁽ⁿ⁾ the gradient at
// the n-th noisy copy and A the activations of the clean input:
//
//	D¹ = mean_n g⁽ⁿ⁾,  D² = mean_n (g⁽ⁿ⁾)²,  D³ = mean_n (g⁽ⁿ⁾)³
//	α_kij = D²_kij / (2·D²_kij + Σ_ab A_kab · D³_kij)
//	w_k   = Σ_ij α_kij · ReLU(D¹_kij),   M = ReLU(Σ_k w_k A_k)
//
// N is Options.Samples (default 8), σ is Options.NoiseSigma (default 0.15
// × the value range of the batch), the noise is seeded by Options.Seed.
// With σ → 0 it reduces to GradCAMPP.
type SmoothGradCAMPP struct{}

func init() {
	Register(SmoothGradCAMPP{}, "smoothgradcampp", "smooth-grad-cam++", "smoothgrad-cam++", "smooth_grad_cam_pp")
}

// Name returns "smoothgradcam++".
func (SmoothGradCAMPP) Name() string { return "smoothgradcam++" }

// Space returns LayerSpace.
func (SmoothGradCAMPP) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] Smooth Grad-CAM++ maps.
func (SmoothGradCAMPP) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := smoothGradCAMPP(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("smoothgradcam++: %w", err)
	}
	return m, nil
}

// noiseSigma returns Options.NoiseSigma or its default.
func (in *Input) noiseSigma() float64 {
	if in.Options.NoiseSigma > 0 {
		return in.Options.NoiseSigma
	}
	lo, hi := in.Images.F32[0], in.Images.F32[0]
	for _, v := range in.Images.F32 {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi > lo {
		return 0.15 * float64(hi-lo)
	}
	return 0.15
}

func smoothGradCAMPP(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	if _, _, _, _, err := in.checkLayer(); err != nil {
		return nil, err
	}
	clean, err := in.activations(ctx)
	if err != nil {
		return nil, err
	}
	n := in.Options.Samples
	if n <= 0 {
		n = 8
	}
	sigma := in.noiseSigma()
	rng := rand.New(rand.NewPCG(in.Options.Seed, 0x5e00))
	noisy := tensor.NewLike(in.Images)
	var d1, d2, d3 []float64
	var lg *layerGrads
	for range n {
		for i, v := range in.Images.F32 {
			noisy.F32[i] = v + float32(rng.NormFloat64()*sigma)
		}
		nin := *in
		nin.Images = noisy
		lg, err = nin.layerGradients(ctx, noisy, engine.ReluNormal)
		if err != nil {
			return nil, err
		}
		if d1 == nil {
			d1 = make([]float64, len(lg.g))
			d2 = make([]float64, len(lg.g))
			d3 = make([]float64, len(lg.g))
		}
		for i, g := range lg.g {
			d1[i] += g
			d2[i] += g * g
			d3[i] += g * g * g
		}
	}
	for i := range d1 {
		d1[i] /= float64(n)
		d2[i] /= float64(n)
		d3[i] /= float64(n)
	}
	b, h, w, c := lg.b, lg.h, lg.w, lg.c
	hw := h * w
	out := newMaps(b, h, w, 1)
	per := hw * c
	for i := range b {
		a := make([]float64, per)
		for j, v := range clean.F32[i*per : (i+1)*per] {
			a[j] = float64(v)
		}
		s := i * per
		wts := gradCAMPPWeights(a, d1[s:s+per], d2[s:s+per], d3[s:s+per], hw, c)
		putMap(out.F32[i*hw:(i+1)*hw], reluInPlace(weightedSum(a, wts, hw, c)))
	}
	return out, nil
}
