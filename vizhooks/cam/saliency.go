package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// inputGradients returns ∂score_c/∂x for every image, [B, H, W, C]
// float32, computed in chunks with the given rectifier rule.
func (in *Input) inputGradients(ctx context.Context, relu engine.ReluMode) (*tensor.Tensor, error) {
	b, _, _, _, err := in.shape()
	if err != nil {
		return nil, err
	}
	out := tensor.NewLike(in.Images)
	per := in.Images.Len() / b
	bs := in.Options.batchSize()
	for off := 0; off < b; off += bs {
		n := min(bs, b-off)
		res, err := in.Engine.Gradients(ctx, engine.GradRequest{
			Feeds:   map[string]*tensor.Tensor{in.InputName: chunk(in.Images, off, n)},
			Targets: []string{in.Score},
			Seed:    in.oneHotSeed(off, n),
			Wrt:     []string{in.InputName},
			Relu:    relu,
		})
		if err != nil {
			return nil, err
		}
		g := res.Grads[in.InputName]
		if g == nil || g.Len() != n*per {
			return nil, fmt.Errorf("engine returned no gradient of input %s", in.InputName)
		}
		g, err = g.Cast(tensor.Float32)
		if err != nil {
			return nil, err
		}
		copy(out.F32[off*per:], g.F32)
	}
	return out, nil
}

// Saliency is the vanilla gradient saliency map (Simonyan et al. 2014):
// M_ij = max_c |∂S_c/∂x_ijc|, the largest absolute input gradient over
// the colour channels. It returns [B, H, W, 1].
type Saliency struct{}

func init() { Register(Saliency{}, "vanilla", "gradient", "vanillagradient") }

// Name returns "saliency".
func (Saliency) Name() string { return "saliency" }

// Space returns InputSpace.
func (Saliency) Space() Space { return InputSpace }

// Compute returns [B, H, W, 1] saliency maps.
func (Saliency) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	g, err := in.inputGradients(ctx, engine.ReluNormal)
	if err != nil {
		return nil, fmt.Errorf("saliency: %w", err)
	}
	b, h, w, c := g.Shape[0], g.Shape[1], g.Shape[2], g.Shape[3]
	out := newMaps(b, h, w, 1)
	m := make([]float64, h*w)
	for i := range b {
		for p := range h * w {
			var mx float64
			for _, v := range g.F32[(i*h*w+p)*c : (i*h*w+p+1)*c] {
				mx = max(mx, abs64(float64(v)))
			}
			m[p] = mx
		}
		putMap(out.F32[i*h*w:(i+1)*h*w], m)
	}
	return out, nil
}

func abs64(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// GuidedBackprop is guided backpropagation (Springenberg et al. 2015): the
// input gradient of the class score where every rectifier passes back only
// positive gradients at positive inputs (engine.ReluGuided). It returns
// the signed gradient image, [B, H, W, C].
type GuidedBackprop struct{}

func init() { Register(GuidedBackprop{}, "guided-backprop", "guided_backprop", "gbp", "guided") }

// Name returns "guidedbackprop".
func (GuidedBackprop) Name() string { return "guidedbackprop" }

// Space returns InputSpace.
func (GuidedBackprop) Space() Space { return InputSpace }

// Compute returns [B, H, W, C] guided gradients.
func (GuidedBackprop) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	g, err := in.inputGradients(ctx, engine.ReluGuided)
	if err != nil {
		return nil, fmt.Errorf("guidedbackprop: %w", err)
	}
	return guard(g), nil
}

// Deconvnet is the deconvolution network attribution (Zeiler & Fergus
// 2014): the input gradient of the class score where every rectifier
// passes back the positive part of the upstream gradient regardless of its
// forward input (engine.ReluDeconv). It returns [B, H, W, C].
type Deconvnet struct{}

func init() { Register(Deconvnet{}, "deconv", "deconvolution") }

// Name returns "deconvnet".
func (Deconvnet) Name() string { return "deconvnet" }

// Space returns InputSpace.
func (Deconvnet) Space() Space { return InputSpace }

// Compute returns [B, H, W, C] deconvnet attributions.
func (Deconvnet) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	g, err := in.inputGradients(ctx, engine.ReluDeconv)
	if err != nil {
		return nil, fmt.Errorf("deconvnet: %w", err)
	}
	return guard(g), nil
}

// guard applies the float32 range guard to each image of g in place.
func guard(g *tensor.Tensor) *tensor.Tensor {
	b := g.Shape[0]
	per := g.Len() / b
	m := make([]float64, per)
	for i := range b {
		for j, v := range g.F32[i*per : (i+1)*per] {
			m[j] = float64(v)
		}
		putMap(g.F32[i*per:(i+1)*per], m)
	}
	return g
}
