package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// GradCAMPP is Grad-CAM++ (Chattopadhay et al. 2018) in the paper's closed
// form (eq. 19). The paper takes the class score through an exponential,
// Y = exp(S); for a piecewise-linear network (ReLU) the higher derivatives
// of S vanish, so ∂ⁿY/∂Aⁿ = exp(S)·gⁿ with g = ∂S/∂A, and the exp(S)
// factors cancel in α:
//
//	α_kij = g_kij² / (2·g_kij² + Σ_ab A_kab · g_kij³)   (0 where the denominator is 0)
//	w_k   = Σ_ij α_kij · ReLU(g_kij)
//	M     = ReLU(Σ_k w_k A_k)
//
// The weights drop the remaining positive factor exp(S) of ∂Y/∂A (one
// constant per image, as pytorch-grad-cam does), which only scales the
// map. Note that torchcam's GradCAMpp computes Σ g²·ReLU(g) instead; that
// is not this formula.
//
// Underflow: the powers of g are formed in float64, where the cube of the
// smallest float32 gradient (about 1.4e-45) is still representable, and the
// map goes through the package's float32 range guard, so tiny gradients
// give a finite, non-zero map.
type GradCAMPP struct{}

func init() {
	Register(GradCAMPP{}, "gradcampp", "grad-cam++", "grad-campp", "gradcamplusplus", "grad_cam_pp")
}

// Name returns "gradcam++".
func (GradCAMPP) Name() string { return "gradcam++" }

// Space returns LayerSpace.
func (GradCAMPP) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] Grad-CAM++ maps.
func (GradCAMPP) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := in.layerMaps(ctx, func(a, g []float64, hw, c int) []float64 {
		g2 := make([]float64, len(g))
		g3 := make([]float64, len(g))
		for i, v := range g {
			g2[i] = v * v
			g3[i] = v * v * v
		}
		return reluInPlace(weightedSum(a, gradCAMPPWeights(a, g, g2, g3, hw, c), hw, c))
	})
	if err != nil {
		return nil, fmt.Errorf("gradcam++: %w", err)
	}
	return m, nil
}

// gradCAMPPWeights evaluates the closed form from the first, second and
// third derivative maps d1, d2, d3 (g, g², g³, or their averages over noisy
// inputs for SmoothGrad-CAM++).
func gradCAMPPWeights(a, d1, d2, d3 []float64, hw, c int) []float64 {
	sumA := make([]float64, c)
	for p := range hw {
		for k, v := range a[p*c : (p+1)*c] {
			sumA[k] += v
		}
	}
	w := make([]float64, c)
	for p := range hw {
		for k := range c {
			i := p*c + k
			den := 2*d2[i] + sumA[k]*d3[i]
			if den == 0 || d1[i] <= 0 {
				continue // α = 0, or ReLU(g) = 0
			}
			w[k] += d2[i] / den * d1[i]
		}
	}
	return w
}
