package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// ISCAM is IS-CAM, integrated Score-CAM (Naidu et al. 2020): the class
// score is integrated along the straight path from the baseline to the
// masked input, as integrated gradients does for gradients. With M_k the
// normalised, upsampled mask of channel k (see ScoreCAM) and N steps
// (Options.ISSteps, default 10):
//
//	s_k = (1/N) Σ_{i=1..N} S_c(X_b + (i/N)·M_k ⊙ (X − X_b)) − S_c(X_b)
//	w   = softmax(s),  M = ReLU(Σ_k w_k A_k)
//
// (S_c(X_b) cancels in the softmax, as in ScoreCAM.) Cost: N masked passes
// per scored channel.
type ISCAM struct{}

func init() { Register(ISCAM{}, "is-cam", "is_cam", "integratedscorecam") }

// Name returns "iscam".
func (ISCAM) Name() string { return "iscam" }

// Space returns LayerSpace.
func (ISCAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] IS-CAM maps.
func (ISCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	if in == nil {
		return nil, fmt.Errorf("iscam: nil input")
	}
	n := in.Options.ISSteps
	if n <= 0 {
		n = 10
	}
	var scaled []float32
	m, err := in.scoreMaps(ctx, true, func(mask []float32, emit func([]float32)) {
		if len(scaled) != len(mask) {
			scaled = make([]float32, len(mask))
		}
		for i := 1; i <= n; i++ {
			t := float32(i) / float32(n)
			for p, v := range mask {
				scaled[p] = t * v
			}
			emit(scaled)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("iscam: %w", err)
	}
	return m, nil
}
