package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// XGradCAM is XGrad-CAM (Fu et al. 2020), whose weights satisfy the
// sensitivity and conservation axioms:
//
//	w_k = Σ_ij (A_kij / Σ_ab A_kab) · g_kij     (0 for a channel summing to 0)
//	M   = ReLU(Σ_k w_k A_k)
type XGradCAM struct{}

func init() { Register(XGradCAM{}, "xgrad-cam", "xgrad_cam") }

// Name returns "xgradcam".
func (XGradCAM) Name() string { return "xgradcam" }

// Space returns LayerSpace.
func (XGradCAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] XGrad-CAM maps.
func (XGradCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := in.layerMaps(ctx, xgradCAMMap)
	if err != nil {
		return nil, fmt.Errorf("xgradcam: %w", err)
	}
	return m, nil
}

func xgradCAMMap(a, g []float64, hw, c int) []float64 {
	sumA := make([]float64, c)
	dot := make([]float64, c)
	for p := range hw {
		for k := range c {
			i := p*c + k
			sumA[k] += a[i]
			dot[k] += a[i] * g[i]
		}
	}
	w := make([]float64, c)
	for k := range c {
		if sumA[k] != 0 {
			w[k] = dot[k] / sumA[k]
		}
	}
	return reluInPlace(weightedSum(a, w, hw, c))
}
