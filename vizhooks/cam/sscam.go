package cam

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// SSCAM is SS-CAM, smoothed Score-CAM (Wang et al. 2020, "SS-CAM: Smoothed
// Score-CAM for Sharper Visual Feature Localization"), in its
// noise-on-the-mask form as torchcam implements it: each channel's
// normalised, upsampled mask M_k (see ScoreCAM) is perturbed N times with
// Gaussian noise, M_k + ε, ε ~ N(0, σ²) per pixel; the channel's score
// increase is the mean over the N masked passes, and the weights and map
// follow Score-CAM: w = softmax(s), M = ReLU(Σ_k w_k A_k). N is
// Options.SSSamples (default 35) and σ Options.SSSigma (default 2.0), as
// in torchcam; the noise is seeded by Options.Seed. Cost: N masked passes
// per scored channel.
type SSCAM struct{}

func init() { Register(SSCAM{}, "ss-cam", "ss_cam", "smoothscorecam") }

// Name returns "sscam".
func (SSCAM) Name() string { return "sscam" }

// Space returns LayerSpace.
func (SSCAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] SS-CAM maps.
func (SSCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	if in == nil {
		return nil, fmt.Errorf("sscam: nil input")
	}
	n := in.Options.SSSamples
	if n <= 0 {
		n = 35
	}
	sigma := in.Options.SSSigma
	if sigma <= 0 {
		sigma = 2.0
	}
	rng := rand.New(rand.NewPCG(in.Options.Seed, 0x55ca))
	var noisy []float32
	m, err := in.scoreMaps(ctx, false, func(mask []float32, emit func([]float32)) {
		if len(noisy) != len(mask) {
			noisy = make([]float32, len(mask))
		}
		for range n {
			for p, v := range mask {
				noisy[p] = v + float32(rng.NormFloat64()*sigma)
			}
			emit(noisy)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("sscam: %w", err)
	}
	return m, nil
}
