// Package metrics scores attribution maps (package cam) by what the model
// does when the pixels they point at are removed or kept, and by whether
// they point at an annotated object:
//
//   - Deletion and Insertion (Petsiuk, Das & Saenko, "RISE: Randomized
//     Input Sampling for Explanation of Black-box Models", BMVC 2018): the
//     pixels are ranked by decreasing saliency and, in K steps, removed
//     from the image (deletion: replaced by the substrate, zeros by
//     default) or inserted into the substrate (insertion: a blurred copy of
//     the image by default). The class probability after each step traces
//     a curve over x = fraction of pixels changed ∈ [0, 1]; its area
//     (trapezoid rule) is the score. Low deletion AUC and high insertion
//     AUC are good. A map carrying no information (constant or random)
//     gives, on average, the chance-level curve: for a score that is
//     linear in the pixels, the straight line between the curve's two end
//     points.
//   - Average Drop and Increase in Confidence (Chattopadhyay et al.,
//     "Grad-CAM++: Generalized Gradient-based Visual Explanations for Deep
//     Convolutional Networks", WACV 2018): with Y the class probability on
//     the image and O the probability on the explanation map E = M ⊙ X
//     (the image multiplied pixel-wise by the map M normalised to [0, 1]),
//     Average Drop = mean over images of max(0, Y − O)/Y · 100 (lower is
//     better) and Increase in Confidence = percentage of images with
//     O > Y (higher is better).
//   - The pointing game (Zhang et al., "Top-down Neural Attention by
//     Excitation Backprop", ECCV 2016; IJCV 2018): a hit when the map's
//     maximum lies within a bounding box or mask of the target object, up
//     to a tolerance (15 pixels in the paper); the score is hits / images.
//
// Every metric sees the map at the model input's resolution: layer-space
// maps [B, h, w, 1] are upsampled bilinearly (render.Upsample), and
// input-space maps with C > 1 channels (gradients) are reduced to
// max over channels of |value| (Simonyan et al. 2014's saliency).
//
// Models are queried through a Scorer, which returns class probabilities
// for a batch; NewScorer builds one from an engine.
package metrics

import (
	"context"
	"fmt"
	"math"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// Scorer returns the class probabilities of every image of a [N, H, W, C]
// float32 batch: one row of probabilities per image.
type Scorer func(ctx context.Context, batch *tensor.Tensor) ([][]float64, error)

// NewScorer returns a Scorer that feeds a batch to the input tensor of eng
// and reads the [N, classes] output tensor. With softmax set the output is
// taken as logits and turned into probabilities (stably, max subtracted);
// otherwise it is used as it is (a model whose output is already a
// softmax).
func NewScorer(eng engine.Engine, input, output string, softmax bool) Scorer {
	return func(ctx context.Context, batch *tensor.Tensor) ([][]float64, error) {
		if eng == nil {
			return nil, fmt.Errorf("scorer: no engine")
		}
		outs, err := eng.Run(ctx, map[string]*tensor.Tensor{input: batch}, []string{output})
		if err != nil {
			return nil, fmt.Errorf("scorer: %w", err)
		}
		t := outs[0]
		if t == nil || t.Rank() != 2 || !t.DType.IsFloat() || t.Shape[0] != batch.Shape[0] {
			desc := "nil"
			if t != nil {
				desc = t.DType.String() + tensor.ShapeString(t.Shape)
			}
			return nil, fmt.Errorf("scorer: output %s is %s, want [%d, classes] float (one row of scores per image)", output, desc, batch.Shape[0])
		}
		n, k := t.Shape[0], t.Shape[1]
		rows := make([][]float64, n)
		for i := range rows {
			row := make([]float64, k)
			for j := range row {
				row[j] = t.Float(i*k + j)
			}
			if softmax {
				softmaxInPlace(row)
			}
			rows[i] = row
		}
		return rows, nil
	}
}

func softmaxInPlace(v []float64) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, x)
	}
	sum := 0.0
	for i, x := range v {
		v[i] = math.Exp(x - mx)
		sum += v[i]
	}
	for i := range v {
		v[i] /= sum
	}
}

// Limits on the arguments, checked before anything is allocated.
const (
	// MaxSteps bounds Config.Steps.
	MaxSteps = 10000
	// MaxBatchSize bounds Config.BatchSize.
	MaxBatchSize = 4096
	// MaxImages bounds the images of one call.
	MaxImages = 4096
	// MaxPixels bounds H·W·C of one image.
	MaxPixels = 1 << 26
)

// Substrate is what deleted pixels become, or what inserted pixels are
// inserted into.
type Substrate uint8

const (
	// Default is zeros for Deletion and a blurred image for Insertion, as
	// in RISE.
	Default Substrate = iota
	// Zero replaces pixels by 0 in the model's input units (black for
	// inputs in [0, 1] or [0, 255], grey for [-1, 1]).
	Zero
	// Blur replaces pixels by those of a Gaussian-blurred copy of the
	// image (see Config.BlurSigma).
	Blur
)

// String returns "default", "zero" or "blur".
func (s Substrate) String() string {
	switch s {
	case Zero:
		return "zero"
	case Blur:
		return "blur"
	}
	return "default"
}

// Config tunes the metrics. The zero value is ready to use: 100 steps,
// deletion to zeros, insertion from a blurred image, 64 images a batch,
// strict pointing game.
type Config struct {
	// Steps is K, the number of deletion/insertion steps; each step
	// changes ceil(H·W/K) pixels (all channels of a pixel together). 0
	// means 100; more steps than pixels means one pixel a step.
	Steps int
	// Deletion and Insertion select the substrates.
	Deletion, Insertion Substrate
	// BlurSigma is the standard deviation, in pixels, of the Blur
	// substrate's Gaussian (truncated at 3σ, edges clamped). 0 means
	// max(H, W)/45, at least 3: 5 px for 224-px inputs, the σ of the RISE
	// code's kernel, and 3 px for 28–32 px inputs, which a lighter blur
	// leaves recognisable (on the Fashion-MNIST model, σ = 1 leaves the
	// class probability of a blurred garment near that of the original).
	BlurSigma float64
	// BatchSize is how many perturbed images one Scorer call scores;
	// 0 means 64.
	BatchSize int
	// Tolerance is the pointing-game tolerance in pixels of the image the
	// regions are given in: a hit when the maximum is at most this far
	// from the object. 0 is strict; Zhang et al. use 15.
	Tolerance float64
	// Seed seeds the random order of pixels with equal saliency: image i
	// of the Input uses Seed+i, so evaluating images in parts with the
	// seed offset by each part's first index gives the same curves.
	Seed uint64
}

func (c Config) steps(pixels int) int {
	k := c.Steps
	if k <= 0 {
		k = 100
	}
	return min(k, pixels)
}

func (c Config) batchSize() int {
	if c.BatchSize > 0 {
		return c.BatchSize
	}
	return 64
}

func (c Config) check() error {
	switch {
	case c.Steps < 0 || c.Steps > MaxSteps:
		return fmt.Errorf("steps %d: want 0 (default 100) to %d", c.Steps, MaxSteps)
	case c.BatchSize < 0 || c.BatchSize > MaxBatchSize:
		return fmt.Errorf("batch size %d: want 0 (default 64) to %d", c.BatchSize, MaxBatchSize)
	case c.BlurSigma < 0 || math.IsNaN(c.BlurSigma) || c.BlurSigma > 1000:
		return fmt.Errorf("blur sigma %g: want 0 (default) to 1000 pixels", c.BlurSigma)
	case c.Tolerance < 0 || math.IsNaN(c.Tolerance) || math.IsInf(c.Tolerance, 0):
		return fmt.Errorf("pointing tolerance %g: want a finite value >= 0", c.Tolerance)
	case c.Deletion > Blur || c.Insertion > Blur:
		return fmt.Errorf("unknown substrate (deletion %d, insertion %d)", c.Deletion, c.Insertion)
	}
	return nil
}

// checkBatch validates images, maps and classes and returns the sizes.
func checkBatch(images, maps *tensor.Tensor, classes []int) (b, h, w, c int, err error) {
	if images == nil || images.DType != tensor.Float32 || images.Rank() != 4 {
		desc := "nil"
		if images != nil {
			desc = images.DType.String() + tensor.ShapeString(images.Shape)
		}
		return 0, 0, 0, 0, fmt.Errorf("images are %s, want a [B, H, W, C] float32 batch", desc)
	}
	b, h, w, c = images.Shape[0], images.Shape[1], images.Shape[2], images.Shape[3]
	if b < 1 || h < 1 || w < 1 || c < 1 || b > MaxImages || h*w*c > MaxPixels {
		return 0, 0, 0, 0, fmt.Errorf("images have shape %s, want 1 to %d images of at most %d values each", tensor.ShapeString(images.Shape), MaxImages, MaxPixels)
	}
	if len(images.F32) != b*h*w*c {
		return 0, 0, 0, 0, fmt.Errorf("images hold %d values for shape %s", len(images.F32), tensor.ShapeString(images.Shape))
	}
	if maps == nil || maps.DType != tensor.Float32 || maps.Rank() != 4 || maps.Shape[0] != b || maps.Shape[1] < 1 || maps.Shape[2] < 1 || maps.Shape[3] < 1 {
		desc := "nil"
		if maps != nil {
			desc = maps.DType.String() + tensor.ShapeString(maps.Shape)
		}
		return 0, 0, 0, 0, fmt.Errorf("maps are %s, want a [%d, h, w, 1] or [%d, H, W, C] float32 tensor (one map per image)", desc, b, b)
	}
	if maps.Shape[1]*maps.Shape[2]*maps.Shape[3] > MaxPixels || len(maps.F32) != tensor.NumElements(maps.Shape) {
		return 0, 0, 0, 0, fmt.Errorf("maps of shape %s are too large or hold %d values", tensor.ShapeString(maps.Shape), len(maps.F32))
	}
	if len(classes) != b {
		return 0, 0, 0, 0, fmt.Errorf("%d classes for %d images; give one target class per image", len(classes), b)
	}
	for i, k := range classes {
		if k < 0 {
			return 0, 0, 0, 0, fmt.Errorf("image %d: class %d is negative", i, k)
		}
	}
	return b, h, w, c, nil
}

// Saliency returns image i's map of maps ([B, h, w, c]) as one value per
// pixel of an H×W input: channels reduced to max |v| when c > 1, then
// upsampled bilinearly (half-pixel centres) when h×w is not H×W.
func Saliency(maps *tensor.Tensor, i, H, W int) []float32 {
	h, w, c := maps.Shape[1], maps.Shape[2], maps.Shape[3]
	m := maps.F32[i*h*w*c : (i+1)*h*w*c]
	if c > 1 {
		red := make([]float32, h*w)
		for p := range red {
			mx := float32(0)
			for k := range c {
				mx = max(mx, float32(math.Abs(float64(m[p*c+k]))))
			}
			red[p] = mx
		}
		m = red
	}
	if h == H && w == W {
		return append([]float32(nil), m...)
	}
	return render.Upsample(m, h, w, H, W, nil)
}

// score returns p[class] for every row, with a clear error when the class
// is out of range.
func classScores(rows [][]float64, n int, class int) ([]float64, error) {
	if len(rows) != n {
		return nil, fmt.Errorf("scorer returned %d rows for %d images", len(rows), n)
	}
	out := make([]float64, n)
	for i, r := range rows {
		if class >= len(r) {
			return nil, fmt.Errorf("class %d out of range: the scorer gives %d classes", class, len(r))
		}
		out[i] = r[class]
	}
	return out, nil
}
