package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// GradCAM is Grad-CAM (Selvaraju et al. 2017). With A the target layer's
// activations (h×w×K) and g = ∂y_c/∂A the gradient of the class score:
//
//	w_k = (1/(h·w)) Σ_ij g_kij          (global-average-pooled gradients)
//	M   = ReLU(Σ_k w_k A_k)
type GradCAM struct{}

func init() { Register(GradCAM{}, "grad-cam", "grad_cam") }

// Name returns "gradcam".
func (GradCAM) Name() string { return "gradcam" }

// Space returns LayerSpace.
func (GradCAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] Grad-CAM maps.
func (GradCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := in.layerMaps(ctx, gradCAMMap)
	if err != nil {
		return nil, fmt.Errorf("gradcam: %w", err)
	}
	return m, nil
}

// gradCAMWeights returns the spatial mean of the gradients per channel.
func gradCAMWeights(g []float64, hw, c int) []float64 {
	w := make([]float64, c)
	for p := range hw {
		for k, v := range g[p*c : (p+1)*c] {
			w[k] += v
		}
	}
	for k := range w {
		w[k] /= float64(hw)
	}
	return w
}

func gradCAMMap(a, g []float64, hw, c int) []float64 {
	return reluInPlace(weightedSum(a, gradCAMWeights(g, hw, c), hw, c))
}
