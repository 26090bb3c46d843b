package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// GuidedGradCAM is guided Grad-CAM (Selvaraju et al. 2017): the guided
// backpropagation image multiplied element-wise by the Grad-CAM map
// upsampled to the input size (bilinear, half-pixel centres), broadcast
// over the colour channels: G_ijc · up(M)_ij. It returns [B, H, W, C].
type GuidedGradCAM struct{}

func init() { Register(GuidedGradCAM{}, "guided-grad-cam", "guided_gradcam", "guided-gradcam") }

// Name returns "guidedgradcam".
func (GuidedGradCAM) Name() string { return "guidedgradcam" }

// Space returns InputSpace.
func (GuidedGradCAM) Space() Space { return InputSpace }

// Compute returns [B, H, W, C] guided Grad-CAM images.
func (GuidedGradCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	maps, err := GradCAM{}.Compute(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("guidedgradcam: %w", err)
	}
	gb, err := GuidedBackprop{}.Compute(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("guidedgradcam: %w", err)
	}
	b, H, W, C := gb.Shape[0], gb.Shape[1], gb.Shape[2], gb.Shape[3]
	h, w := maps.Shape[1], maps.Shape[2]
	up := make([]float32, H*W)
	for i := range b {
		up = render.Upsample(maps.F32[i*h*w:(i+1)*h*w], h, w, H, W, up)
		img := gb.F32[i*H*W*C : (i+1)*H*W*C]
		for p, m := range up {
			for c := range C {
				img[p*C+c] *= m
			}
		}
	}
	return guard(gb), nil
}
