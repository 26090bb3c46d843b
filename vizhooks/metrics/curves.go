package metrics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Curve is one deletion or insertion curve: Scores[k] is the class
// probability after X[k]·H·W pixels were changed, X[0] = 0 (the image for
// deletion, the substrate for insertion) up to X[len-1] = 1.
type Curve struct {
	X      []float64 `json:"x"`
	Scores []float64 `json:"scores"`
	// AUC is the trapezoid-rule area under Scores over X.
	AUC float64 `json:"auc"`
}

// ChanceAUC is the area under the straight line between the curve's end
// points, (Scores[0] + Scores[last]) / 2: what a map without information
// scores on average when the model's score is linear in the pixels.
func (c Curve) ChanceAUC() float64 {
	if len(c.Scores) == 0 {
		return math.NaN()
	}
	return (c.Scores[0] + c.Scores[len(c.Scores)-1]) / 2
}

// AUC returns the trapezoid-rule area under y over x.
func AUC(x, y []float64) float64 {
	a := 0.0
	for k := 1; k < len(x) && k < len(y); k++ {
		a += (x[k] - x[k-1]) * (y[k] + y[k-1]) / 2
	}
	return a
}

// Deletion computes the deletion curve of each image for its class: the
// pixels, in order of decreasing saliency, are replaced by the deletion
// substrate (zeros by default) in K steps. images is a [B, H, W, C]
// float32 batch as the model takes it, maps [B, h, w, 1] or [B, H, W, C]
// (see Saliency).
func Deletion(ctx context.Context, s Scorer, images, maps *tensor.Tensor, classes []int, cfg Config) ([]Curve, error) {
	return curves(ctx, s, images, maps, classes, cfg, false)
}

// Insertion computes the insertion curve of each image for its class: the
// pixels, in order of decreasing saliency, are copied from the image into
// the insertion substrate (a blurred copy by default) in K steps.
func Insertion(ctx context.Context, s Scorer, images, maps *tensor.Tensor, classes []int, cfg Config) ([]Curve, error) {
	return curves(ctx, s, images, maps, classes, cfg, true)
}

func curves(ctx context.Context, s Scorer, images, maps *tensor.Tensor, classes []int, cfg Config, insert bool) ([]Curve, error) {
	name := "deletion"
	if insert {
		name = "insertion"
	}
	if s == nil {
		return nil, fmt.Errorf("%s: no scorer", name)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b, h, w, _, err := checkBatch(images, maps, classes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make([]Curve, b)
	for i := range b {
		sal := Saliency(maps, i, h, w)
		c, err := curve(ctx, s, images, i, sal, classes[i], cfg, insert)
		if err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", name, i, err)
		}
		out[i] = c
	}
	return out, nil
}

// Order returns the pixel indices of sal by decreasing saliency; pixels of
// equal saliency come in a random order drawn from seed, and NaN counts as
// the least salient. So a constant map gives a uniformly random order.
func Order(sal []float32, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	idx := r.Perm(len(sal))
	key := func(p int) float64 {
		v := float64(sal[p])
		if math.IsNaN(v) {
			return math.Inf(-1)
		}
		return v
	}
	sort.SliceStable(idx, func(a, b int) bool { return key(idx[a]) > key(idx[b]) })
	return idx
}

// curve computes one image's curve, scoring the K+1 perturbed images in
// batches of cfg.batchSize().
func curve(ctx context.Context, s Scorer, images *tensor.Tensor, i int, sal []float32, class int, cfg Config, insert bool) (Curve, error) {
	h, w, c := images.Shape[1], images.Shape[2], images.Shape[3]
	per := h * w * c
	img := images.F32[i*per : (i+1)*per]
	sub := Zero
	if insert {
		sub = cfg.Insertion
		if sub == Default {
			sub = Blur
		}
	} else if cfg.Deletion != Default {
		sub = cfg.Deletion
	}
	var substrate []float32
	if sub == Blur {
		substrate = GaussianBlur(img, h, w, c, cfg.blurSigma(h, w))
	} else {
		substrate = make([]float32, per)
	}
	// Deletion walks from the image to the substrate, insertion the other
	// way; pixels of `from` are replaced by those of `to` in order.
	from, to := img, substrate
	if insert {
		from, to = substrate, img
	}
	order := Order(sal, cfg.Seed+uint64(i))
	hw := h * w
	k := cfg.steps(hw)
	stepPix := (hw + k - 1) / k
	steps := (hw + stepPix - 1) / stepPix
	cur := append([]float32(nil), from...)
	xs := make([]float64, steps+1)
	ys := make([]float64, 0, steps+1)
	bs := cfg.batchSize()
	batch := tensor.New(tensor.Float32, min(bs, steps+1), h, w, c)
	n := 0 // images in batch
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t := batch
		if n < batch.Shape[0] {
			t = tensor.FromFloat32(batch.F32[:n*per], n, h, w, c)
		}
		rows, err := s(ctx, t)
		if err != nil {
			return err
		}
		sc, err := classScores(rows, n, class)
		if err != nil {
			return err
		}
		ys = append(ys, sc...)
		n = 0
		return nil
	}
	for st := 0; st <= steps; st++ {
		if st > 0 {
			for _, p := range order[min((st-1)*stepPix, hw):min(st*stepPix, hw)] {
				copy(cur[p*c:(p+1)*c], to[p*c:(p+1)*c])
			}
		}
		xs[st] = float64(min(st*stepPix, hw)) / float64(hw)
		copy(batch.F32[n*per:(n+1)*per], cur)
		n++
		if n == batch.Shape[0] {
			if err := flush(); err != nil {
				return Curve{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return Curve{}, err
	}
	return Curve{X: xs, Scores: ys, AUC: AUC(xs, ys)}, nil
}

func (c Config) blurSigma(h, w int) float64 {
	if c.BlurSigma > 0 {
		return c.BlurSigma
	}
	return math.Max(3, float64(max(h, w))/45)
}

// GaussianBlur returns img (h×w, c interleaved channels) convolved with a
// Gaussian of standard deviation sigma pixels, truncated at ceil(3σ) and
// normalised, separably (rows then columns), with edge pixels repeated
// beyond the border. sigma <= 0 returns a copy.
func GaussianBlur(img []float32, h, w, c int, sigma float64) []float32 {
	out := append([]float32(nil), img...)
	if sigma <= 0 {
		return out
	}
	r := int(math.Ceil(3 * sigma))
	kern := make([]float64, 2*r+1)
	sum := 0.0
	for j := range kern {
		d := float64(j - r)
		kern[j] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += kern[j]
	}
	for j := range kern {
		kern[j] /= sum
	}
	tmp := make([]float64, len(img))
	for y := range h {
		for x := range w {
			for ch := range c {
				a := 0.0
				for j, kv := range kern {
					xx := min(max(x+j-r, 0), w-1)
					a += kv * float64(img[(y*w+xx)*c+ch])
				}
				tmp[(y*w+x)*c+ch] = a
			}
		}
	}
	for y := range h {
		for x := range w {
			for ch := range c {
				a := 0.0
				for j, kv := range kern {
					yy := min(max(y+j-r, 0), h-1)
					a += kv * tmp[(yy*w+x)*c+ch]
				}
				out[(y*w+x)*c+ch] = float32(a)
			}
		}
	}
	return out
}
