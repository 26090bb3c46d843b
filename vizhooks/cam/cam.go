// Package cam computes class-activation maps and gradient attributions for
// CNN image classifiers run by an engine.Engine: CAM, Grad-CAM,
// Grad-CAM++, XGrad-CAM, LayerCAM, Score-CAM, SS-CAM, IS-CAM,
// SmoothGrad-CAM++, vanilla saliency, guided backpropagation, deconvnet
// and guided Grad-CAM.
//
// Every method implements Method and is registered by name (ByName,
// Names); adding a method is adding one file. A method takes an Input — the
// engine, the images (preprocessed, NHWC float32), the target layer, the
// score tensor and one target class per image — and returns raw maps:
// no normalisation and no colour mapping (package render does those).
// Layer-space methods return [B, h, w, 1] maps at the target layer's
// resolution; input-space methods return [B, H, W, 1] or [B, H, W, C] at
// the input's resolution (Method.Space says which).
//
// All map arithmetic runs in float64. When an image's map is entirely
// outside float32's normal range (largest magnitude below 2⁻¹⁰⁰ or above
// 2¹⁰⁰, as tiny gradients give), it is scaled by a power of two to bring
// its largest magnitude to [0.5, 1) before the conversion to float32, so
// no map becomes all zeros (or infinite) through underflow. The scale is
// positive, so the map's shape and ranking are unchanged.
package cam

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Space says where a method's maps live.
type Space uint8

const (
	// LayerSpace maps are [B, h, w, 1] at the target layer's resolution.
	LayerSpace Space = iota
	// InputSpace maps are [B, H, W, 1] or [B, H, W, C] at the input
	// image's resolution.
	InputSpace
)

// String returns "layer" or "input".
func (s Space) String() string {
	if s == InputSpace {
		return "input"
	}
	return "layer"
}

// Method is one attribution method.
type Method interface {
	// Name is the canonical name, e.g. "gradcam", "gradcam++".
	Name() string
	// Space says whether Compute returns layer- or input-resolution maps.
	Space() Space
	// Compute returns float32 maps, one per image: [B, h, w, 1] for
	// LayerSpace, [B, H, W, 1] or [B, H, W, C] for InputSpace.
	Compute(ctx context.Context, in *Input) (*tensor.Tensor, error)
}

// Input is what a method works on.
type Input struct {
	// Engine runs the model graph.
	Engine engine.Engine
	// Graph is the model graph; only CAM needs it (to find the dense
	// layer's weights).
	Graph *graph.Graph
	// InputName is the tensor the images are fed to.
	InputName string
	// Images is a [B, H, W, C] float32 batch, already preprocessed the
	// way the model expects.
	Images *tensor.Tensor
	// Layer is the target layer's tensor name; its output must be 4-D
	// NHWC (see package layers to find it).
	Layer string
	// Score is the tensor of class scores, [B, classes]: usually the
	// logits (layers.ScoreTensor).
	Score string
	// Classes holds the target class of each image.
	Classes []int
	// Options tunes the methods; the zero value is ready to use.
	Options Options
}

// Options tunes the methods. The zero value selects the defaults.
type Options struct {
	// BatchSize is how many images one engine call processes: masked
	// inputs of the Score-CAM family, noisy copies of SmoothGrad-CAM++,
	// and chunks of the input batch for gradient methods. Default 32.
	BatchSize int
	// Samples is SmoothGrad-CAM++'s number of noisy inputs. Default 8.
	Samples int
	// NoiseSigma is SmoothGrad-CAM++'s noise standard deviation, in input
	// units. Default 0.15 × (max − min of Images), or 0.15 for a constant
	// batch.
	NoiseSigma float64
	// SSSamples is SS-CAM's number of noisy masks per channel. Default 35
	// (as torchcam).
	SSSamples int
	// SSSigma is the standard deviation of the noise SS-CAM adds to each
	// normalised [0, 1] mask. Default 2.0 (as torchcam).
	SSSigma float64
	// ISSteps is IS-CAM's number of integration steps. Default 10.
	ISSteps int
	// Baseline is the reference input of the Score-CAM family, [1, H, W,
	// C] or [B, H, W, C]: a masked input is Baseline + M ⊙ (X − Baseline).
	// Nil means zeros.
	Baseline *tensor.Tensor
	// MaxChannels limits the Score-CAM family to the channels with the
	// largest mean activation in each image; 0 means all channels.
	MaxChannels int
	// Seed seeds the noise of SmoothGrad-CAM++ and SS-CAM.
	Seed uint64
}

func (o Options) batchSize() int {
	if o.BatchSize > 0 {
		return o.BatchSize
	}
	return 32
}

// MaxBatch bounds the number of images of one Compute call.
const MaxBatch = 4096

// shape returns B, H, W, C after validating the Input.
func (in *Input) shape() (b, h, w, c int, err error) {
	switch {
	case in == nil:
		return 0, 0, 0, 0, fmt.Errorf("nil input")
	case in.Engine == nil:
		return 0, 0, 0, 0, fmt.Errorf("no engine")
	case in.InputName == "":
		return 0, 0, 0, 0, fmt.Errorf("no input tensor name")
	case in.Score == "":
		return 0, 0, 0, 0, fmt.Errorf("no score tensor name")
	case in.Images == nil:
		return 0, 0, 0, 0, fmt.Errorf("no images")
	case in.Images.DType != tensor.Float32 || in.Images.Rank() != 4:
		return 0, 0, 0, 0, fmt.Errorf("images must be a [B, H, W, C] float32 tensor, got %v%s", in.Images.DType, tensor.ShapeString(in.Images.Shape))
	}
	b, h, w, c = in.Images.Shape[0], in.Images.Shape[1], in.Images.Shape[2], in.Images.Shape[3]
	if b < 1 || h < 1 || w < 1 || c < 1 || b > MaxBatch {
		return 0, 0, 0, 0, fmt.Errorf("images have shape %s, want 1 to %d images of positive size", tensor.ShapeString(in.Images.Shape), MaxBatch)
	}
	if len(in.Images.F32) != b*h*w*c {
		return 0, 0, 0, 0, fmt.Errorf("images tensor holds %d values for shape %s", len(in.Images.F32), tensor.ShapeString(in.Images.Shape))
	}
	if len(in.Classes) != b {
		return 0, 0, 0, 0, fmt.Errorf("%d target classes for a batch of %d images; give one class per image", len(in.Classes), b)
	}
	for i, k := range in.Classes {
		if k < 0 {
			return 0, 0, 0, 0, fmt.Errorf("image %d: class index %d is negative", i, k)
		}
	}
	return b, h, w, c, nil
}

// checkLayerInput validates an Input for a layer-space method.
func (in *Input) checkLayer() (b, h, w, c int, err error) {
	if b, h, w, c, err = in.shape(); err != nil {
		return
	}
	if in.Layer == "" {
		err = fmt.Errorf("no target layer")
	}
	return
}

// checkScores verifies the score tensor of a chunk of images starting at
// image off and that every target class indexes it.
func (in *Input) checkScores(s *tensor.Tensor, off, n int) error {
	if s == nil || s.Rank() != 2 || s.Shape[0] != n || !s.DType.IsFloat() {
		var shape string
		if s != nil {
			shape = s.DType.String() + tensor.ShapeString(s.Shape)
		}
		return fmt.Errorf("score tensor %s has shape %s, want [%d, classes] float (one row of class scores per image)", in.Score, shape, n)
	}
	for i := range n {
		if k := in.Classes[off+i]; k >= s.Shape[1] {
			return fmt.Errorf("image %d: class index %d out of range: score tensor %s has %d classes", off+i, k, in.Score, s.Shape[1])
		}
	}
	return nil
}

// chunk returns images [off, off+n) of t as a tensor sharing its data.
func chunk(t *tensor.Tensor, off, n int) *tensor.Tensor {
	per := t.Len() / t.Shape[0]
	shape := append([]int{n}, t.Shape[1:]...)
	return tensor.FromFloat32(t.F32[off*per:(off+n)*per], shape...)
}

// oneHotSeed returns a Seed function putting 1 at each image's class of
// the score tensor, after checking its shape.
func (in *Input) oneHotSeed(off, n int) func(map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
		s := v[in.Score]
		if err := in.checkScores(s, off, n); err != nil {
			return nil, err
		}
		seed := tensor.New(s.DType, s.Shape...)
		for i := range n {
			seed.SetFloat(i*s.Shape[1]+in.Classes[off+i], 1)
		}
		return map[string]*tensor.Tensor{in.Score: seed}, nil
	}
}

// layerGrads holds, for a batch, the target layer's activations A and the
// gradients G = ∂score_class/∂A, both NHWC, in float64.
type layerGrads struct {
	b, h, w, c int
	a, g       []float64
}

func (l *layerGrads) image(i int) (a, g []float64) {
	n := l.h * l.w * l.c
	return l.a[i*n : (i+1)*n], l.g[i*n : (i+1)*n]
}

// layerGradients runs forward and backward passes over images (in chunks
// of the batch size) and returns the layer's activations and gradients.
func (in *Input) layerGradients(ctx context.Context, images *tensor.Tensor, relu engine.ReluMode) (*layerGrads, error) {
	b := images.Shape[0]
	bs := in.Options.batchSize()
	var out *layerGrads
	for off := 0; off < b; off += bs {
		n := min(bs, b-off)
		res, err := in.Engine.Gradients(ctx, engine.GradRequest{
			Feeds:   map[string]*tensor.Tensor{in.InputName: chunk(images, off, n)},
			Fetches: []string{in.Layer},
			Targets: []string{in.Score},
			Seed:    in.oneHotSeed(off, n),
			Wrt:     []string{in.Layer},
			Relu:    relu,
		})
		if err != nil {
			return nil, err
		}
		a, g := res.Values[in.Layer], res.Grads[in.Layer]
		if err := in.checkLayerTensor(a, n); err != nil {
			return nil, err
		}
		if g == nil || !tensor.SameShape(g.Shape, a.Shape) {
			return nil, fmt.Errorf("engine returned no gradient of layer %s", in.Layer)
		}
		if out == nil {
			out = &layerGrads{b: b, h: a.Shape[1], w: a.Shape[2], c: a.Shape[3]}
			out.a = make([]float64, 0, b*a.Len()/n)
			out.g = make([]float64, 0, b*a.Len()/n)
		}
		out.a = append(out.a, a.Float64s()...)
		out.g = append(out.g, g.Float64s()...)
	}
	return out, nil
}

// checkLayerTensor verifies that the target layer's value is a spatial
// NHWC activation for n images.
func (in *Input) checkLayerTensor(a *tensor.Tensor, n int) error {
	if a == nil {
		return fmt.Errorf("engine returned no value for layer %s", in.Layer)
	}
	if a.Rank() != 4 || a.Shape[0] != n || !a.DType.IsFloat() {
		return fmt.Errorf("target layer %s has shape %s (%v), not a 4-D NHWC activation: CAM methods need a convolutional (spatial) layer, e.g. the last Conv2D activation (see layers.Suggest)", in.Layer, tensor.ShapeString(a.Shape), a.DType)
	}
	return nil
}

// weightedSum returns Σ_k w_k A_k for one image (hw pixels, c channels).
func weightedSum(a, w []float64, hw, c int) []float64 {
	m := make([]float64, hw)
	for p := range hw {
		var s float64
		row := a[p*c : (p+1)*c]
		for k, v := range row {
			s += w[k] * v
		}
		m[p] = s
	}
	return m
}

func reluInPlace(m []float64) []float64 {
	for i, v := range m {
		if !(v > 0) {
			m[i] = 0
		}
	}
	return m
}

// putMap stores m into dst as float32 with the underflow/overflow guard
// described in the package comment.
func putMap(dst []float32, m []float64) {
	var mx float64
	for _, v := range m {
		mx = math.Max(mx, math.Abs(v))
	}
	scale := 1.0
	if mx > 0 && !math.IsInf(mx, 0) && (mx < 0x1p-100 || mx > 0x1p100) {
		_, e := math.Frexp(mx)
		scale = math.Ldexp(1, -e)
	}
	for i, v := range m {
		dst[i] = float32(v * scale)
	}
}

// newMaps returns a [b, h, w, c] float32 tensor.
func newMaps(b, h, w, c int) *tensor.Tensor { return tensor.New(tensor.Float32, b, h, w, c) }

// layerMaps computes a layer-space map per image from activations and
// gradients with f, which returns the h·w map of one image.
func (in *Input) layerMaps(ctx context.Context, f func(a, g []float64, hw, c int) []float64) (*tensor.Tensor, error) {
	if _, _, _, _, err := in.checkLayer(); err != nil {
		return nil, err
	}
	lg, err := in.layerGradients(ctx, in.Images, engine.ReluNormal)
	if err != nil {
		return nil, err
	}
	hw := lg.h * lg.w
	out := newMaps(lg.b, lg.h, lg.w, 1)
	for i := range lg.b {
		a, g := lg.image(i)
		putMap(out.F32[i*hw:(i+1)*hw], f(a, g, hw, lg.c))
	}
	return out, nil
}

var (
	regMu   sync.RWMutex
	methods = map[string]Method{}
	aliases = map[string]string{}
)

// Register adds a method under its name and the given aliases (names are
// case-insensitive). Registering a name twice panics.
func Register(m Method, alias ...string) {
	regMu.Lock()
	defer regMu.Unlock()
	name := strings.ToLower(m.Name())
	if _, dup := methods[name]; dup {
		panic("cam: method " + name + " registered twice")
	}
	methods[name] = m
	for _, a := range alias {
		a = strings.ToLower(a)
		if _, dup := aliases[a]; dup {
			panic("cam: alias " + a + " registered twice")
		}
		aliases[a] = name
	}
}

// ByName returns the method with the given name or alias
// (case-insensitive, e.g. "grad-cam", "GradCAM++", "gradcampp").
func ByName(name string) (Method, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	key := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[key]; ok {
		key = a
	}
	if m, ok := methods[key]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("cam: unknown method %q; valid names: %s", name, strings.Join(namesLocked(), ", "))
}

// Names returns the canonical method names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	out := make([]string, 0, len(methods))
	for n := range methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TopK returns, for each row of a [B, classes] score tensor, the indices of
// the k largest scores in decreasing order (ties by lower index). k is
// capped at the number of classes.
func TopK(scores *tensor.Tensor, k int) [][]int {
	if scores == nil || scores.Rank() != 2 || k <= 0 {
		return nil
	}
	b, n := scores.Shape[0], scores.Shape[1]
	k = min(k, n)
	out := make([][]int, b)
	for i := range b {
		idx := make([]int, n)
		for j := range idx {
			idx[j] = j
		}
		row := func(j int) float64 { return scores.Float(i*n + j) }
		sort.SliceStable(idx, func(x, y int) bool { return row(idx[x]) > row(idx[y]) })
		out[i] = idx[:k:k]
	}
	return out
}

// Softmax returns the softmax of each row of a [B, classes] tensor as
// float64 probabilities (computed stably, max subtracted).
func Softmax(scores *tensor.Tensor) [][]float64 {
	if scores == nil || scores.Rank() != 2 {
		return nil
	}
	b, n := scores.Shape[0], scores.Shape[1]
	out := make([][]float64, b)
	for i := range b {
		row := make([]float64, n)
		for j := range row {
			row[j] = scores.Float(i*n + j)
		}
		out[i] = softmax(row)
	}
	return out
}

// softmax returns the softmax of v (a new slice).
func softmax(v []float64) []float64 {
	out := make([]float64, len(v))
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, x)
	}
	var s float64
	for i, x := range v {
		out[i] = math.Exp(x - mx)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}
