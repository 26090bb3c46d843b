package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// LayerCAM is LayerCAM (Jiang et al. 2021): every location gets its own
// weight, the positive part of its gradient,
//
//	M_ij = ReLU(Σ_k ReLU(g_kij) · A_kij)
//
// so it gives fine-grained maps on early layers too, not just the last
// convolutional one. When the gradient is constant over space per channel
// and non-negative (global average pooling into a dense layer whose class
// weights are non-negative), LayerCAM equals Grad-CAM; in general it
// equals Grad-CAM with the negative channel weights clipped to zero in
// that setting.
type LayerCAM struct{}

func init() { Register(LayerCAM{}, "layer-cam", "layer_cam") }

// Name returns "layercam".
func (LayerCAM) Name() string { return "layercam" }

// Space returns LayerSpace.
func (LayerCAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] LayerCAM maps.
func (LayerCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := in.layerMaps(ctx, layerCAMMap)
	if err != nil {
		return nil, fmt.Errorf("layercam: %w", err)
	}
	return m, nil
}

func layerCAMMap(a, g []float64, hw, c int) []float64 {
	m := make([]float64, hw)
	for p := range hw {
		var s float64
		for k := range c {
			if gv := g[p*c+k]; gv > 0 {
				s += gv * a[p*c+k]
			}
		}
		m[p] = s
	}
	return reluInPlace(m)
}
