package cam

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// ScoreCAM is Score-CAM (Wang et al. 2020): gradient-free channel weights
// from masked forward passes. The convention, which the maps are very
// sensitive to, follows the paper and torchcam's order:
//
//  1. each activation channel A_k is min-max normalised at the layer's
//     resolution, (A_k − min A_k)/(max A_k − min A_k); constant channels
//     are skipped (weight 0);
//  2. the normalised channel is upsampled to the input size with bilinear
//     interpolation and half-pixel centres (render.Upsample), giving a
//     mask M_k in [0, 1];
//  3. the masked input is X_b + M_k ⊙ (X − X_b), the mask broadcast over
//     the input channels, with X_b the baseline (Options.Baseline, zeros by
//     default, so the masked input is X ⊙ M_k);
//  4. the channel's score increase is s_k = S_c(masked input) − S_c(X_b),
//     with S_c the Score tensor's entry for the target class (logits when
//     Score is the pre-softmax tensor);
//  5. the channel weights are the softmax over the scored channels,
//     w = softmax(s), and the map is M = ReLU(Σ_k w_k A_k).
//
// S_c(X_b) is the same for every channel, so it cancels in the softmax
// and is not evaluated. Channels whose normalised masks are bit-identical
// (common in late ReLU6 layers: one active pixel, or the same saturated
// pixels, normalise to the same 0/1 mask) share one masked pass, which
// gives each of them the score it would have had on its own. Masked
// passes are batched Options.BatchSize at a time; Options.MaxChannels
// keeps only the channels with the largest mean activation.
type ScoreCAM struct{}

func init() { Register(ScoreCAM{}, "score-cam", "score_cam") }

// Name returns "scorecam".
func (ScoreCAM) Name() string { return "scorecam" }

// Space returns LayerSpace.
func (ScoreCAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] Score-CAM maps.
func (ScoreCAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := in.scoreMaps(ctx, true, func(mask []float32, emit func([]float32)) { emit(mask) })
	if err != nil {
		return nil, fmt.Errorf("scorecam: %w", err)
	}
	return m, nil
}

// activations runs the clean images forward (in chunks) and returns the
// layer's activations [B, h, w, c], after checking the layer and scores.
func (in *Input) activations(ctx context.Context) (*tensor.Tensor, error) {
	b := in.Images.Shape[0]
	bs := in.Options.batchSize()
	var out *tensor.Tensor
	for off := 0; off < b; off += bs {
		n := min(bs, b-off)
		vals, err := in.Engine.Run(ctx, map[string]*tensor.Tensor{in.InputName: chunk(in.Images, off, n)}, []string{in.Layer, in.Score})
		if err != nil {
			return nil, err
		}
		a, s := vals[0], vals[1]
		if err := in.checkLayerTensor(a, n); err != nil {
			return nil, err
		}
		if err := in.checkScores(s, off, n); err != nil {
			return nil, err
		}
		a, err = a.Cast(tensor.Float32)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = tensor.New(tensor.Float32, b, a.Shape[1], a.Shape[2], a.Shape[3])
		}
		copy(out.F32[off*a.Len()/n:], a.F32)
	}
	return out, nil
}

// baseline returns the baseline image for image i ([H·W·C]), or nil for
// zeros, after validating Options.Baseline.
func (in *Input) baseline(i int) ([]float32, error) {
	bl := in.Options.Baseline
	if bl == nil {
		return nil, nil
	}
	s := in.Images.Shape
	if bl.DType != tensor.Float32 || bl.Rank() != 4 || (bl.Shape[0] != 1 && bl.Shape[0] != s[0]) ||
		bl.Shape[1] != s[1] || bl.Shape[2] != s[2] || bl.Shape[3] != s[3] || len(bl.F32) != bl.Len() {
		return nil, fmt.Errorf("baseline has shape %v%s, want float32 [1 or %d, %d, %d, %d] like the images", bl.DType, tensor.ShapeString(bl.Shape), s[0], s[1], s[2], s[3])
	}
	per := s[1] * s[2] * s[3]
	if bl.Shape[0] == 1 {
		i = 0
	}
	return bl.F32[i*per : (i+1)*per], nil
}

// scoreChannels returns the channels of one image's activations (hw×c)
// to score: the non-constant ones, limited to the MaxChannels with the
// largest mean activation when set, in channel order.
func (o Options) scoreChannels(a []float32, hw, c int) []int {
	type ch struct {
		k    int
		mean float64
	}
	var cs []ch
	for k := range c {
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for p := range hw {
			v := float64(a[p*c+k])
			lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
		}
		if hi > lo {
			cs = append(cs, ch{k, sum / float64(hw)})
		}
	}
	if o.MaxChannels > 0 && len(cs) > o.MaxChannels {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].mean > cs[j].mean })
		cs = cs[:o.MaxChannels]
		sort.Slice(cs, func(i, j int) bool { return cs[i].k < cs[j].k })
	}
	out := make([]int, len(cs))
	for i, x := range cs {
		out[i] = x.k
	}
	return out
}

// normalizedChannel returns channel k of one image's activations (hw×c)
// min-max normalised to [0, 1], at the layer's resolution.
func normalizedChannel(a []float32, hw, c, k int) []float32 {
	ch := make([]float32, hw)
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for p := range hw {
		v := a[p*c+k]
		ch[p] = v
		lo, hi = min(lo, v), max(hi, v)
	}
	d := float64(hi) - float64(lo)
	for p, v := range ch {
		ch[p] = float32((float64(v) - float64(lo)) / d)
	}
	return ch
}

// channelMask returns channel k of one image's activations min-max
// normalised and upsampled to H×W (the Score-CAM mask).
func channelMask(a []float32, h, w, c, k, outH, outW int) []float32 {
	return upsampleMask(normalizedChannel(a, h*w, c, k), h, w, outH, outW)
}

// upsampleMask upsamples a normalised h×w channel to the input's H×W.
func upsampleMask(ch []float32, h, w, outH, outW int) []float32 {
	if h == outH && w == outW {
		return ch
	}
	return render.Upsample(ch, h, w, outH, outW, nil)
}

// maskKey is the exact bit pattern of a normalised channel, the key under
// which identical masks share one masked pass.
func maskKey(ch []float32) string {
	b := make([]byte, 0, 4*len(ch))
	for _, v := range ch {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return string(b)
}

// variantFunc turns a channel's [0, 1] mask into the masks actually
// applied (one for Score-CAM, noisy copies for SS-CAM, scaled copies for
// IS-CAM), passing each to emit. A channel's score is the mean over its
// variants.
type variantFunc func(mask []float32, emit func([]float32))

// scoreMaps runs the Score-CAM pipeline with the given mask variants.
// When the variants are deterministic (dedup), channels with identical
// normalised masks are scored by one set of masked passes.
func (in *Input) scoreMaps(ctx context.Context, dedup bool, variants variantFunc) (*tensor.Tensor, error) {
	b, H, W, C, err := in.checkLayer()
	if err != nil {
		return nil, err
	}
	acts, err := in.activations(ctx)
	if err != nil {
		return nil, err
	}
	h, w, c := acts.Shape[1], acts.Shape[2], acts.Shape[3]
	hw, per := h*w, H*W*C
	bs := in.Options.batchSize()
	out := newMaps(b, h, w, 1)

	// A batch of masked inputs, and which (image, channel slot) each row
	// credits.
	batch := tensor.New(tensor.Float32, bs, H, W, C)
	type owner struct{ img, slot int }
	owners := make([]owner, 0, bs)
	sums := make([][]float64, b) // per image, per selected-channel slot
	counts := make([][]int, b)
	flush := func() error {
		n := len(owners)
		if n == 0 {
			return nil
		}
		x := batch
		if n < bs {
			x = chunk(batch, 0, n)
		}
		vals, err := in.Engine.Run(ctx, map[string]*tensor.Tensor{in.InputName: x}, []string{in.Score})
		if err != nil {
			return fmt.Errorf("masked forward pass: %w", err)
		}
		s := vals[0]
		if s == nil || s.Rank() != 2 || s.Shape[0] != n {
			return fmt.Errorf("score tensor %s of a masked batch of %d has shape %v", in.Score, n, s)
		}
		for r, o := range owners {
			sums[o.img][o.slot] += s.Float(r*s.Shape[1] + in.Classes[o.img])
			counts[o.img][o.slot]++
		}
		owners = owners[:0]
		return nil
	}

	selected := make([][]int, b)
	same := make([][]int, b) // per image and slot: the slot whose passes it shares, or -1
	for i := range b {
		a := acts.F32[i*hw*c : (i+1)*hw*c]
		x := in.Images.F32[i*per : (i+1)*per]
		base, err := in.baseline(i)
		if err != nil {
			return nil, err
		}
		ks := in.Options.scoreChannels(a, hw, c)
		selected[i] = ks
		sums[i] = make([]float64, len(ks))
		counts[i] = make([]int, len(ks))
		same[i] = make([]int, len(ks))
		first := map[string]int{}
		for slot, k := range ks {
			same[i][slot] = -1
			ch := normalizedChannel(a, hw, c, k)
			if dedup {
				key := maskKey(ch)
				if s, ok := first[key]; ok {
					same[i][slot] = s
					continue
				}
				first[key] = slot
			}
			mask := upsampleMask(ch, h, w, H, W)
			var emitErr error
			variants(mask, func(m []float32) {
				if emitErr != nil {
					return
				}
				row := batch.F32[len(owners)*per : (len(owners)+1)*per]
				for p, mv := range m {
					for ch := range C {
						j := p*C + ch
						if base == nil {
							row[j] = x[j] * mv
						} else {
							row[j] = base[j] + mv*(x[j]-base[j])
						}
					}
				}
				owners = append(owners, owner{i, slot})
				if len(owners) == bs {
					emitErr = flush()
				}
			})
			if emitErr != nil {
				return nil, emitErr
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for i := range b {
		ks := selected[i]
		if len(ks) == 0 {
			continue // every channel constant: an all-zero map
		}
		s := make([]float64, len(ks))
		for slot := range ks {
			from := slot
			if same[i][slot] >= 0 {
				from = same[i][slot]
			}
			s[slot] = sums[i][from] / float64(counts[i][from])
		}
		wts := make([]float64, c)
		for slot, p := range softmax(s) {
			wts[ks[slot]] = p
		}
		a := acts.F32[i*hw*c : (i+1)*hw*c]
		a64 := make([]float64, len(a))
		for j, v := range a {
			a64[j] = float64(v)
		}
		putMap(out.F32[i*hw:(i+1)*hw], reluInPlace(weightedSum(a64, wts, hw, c)))
	}
	return out, nil
}
