package metrics

import (
	"context"
	"fmt"
	"math"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Confidence is one image's result for Average Drop and Increase in
// Confidence.
type Confidence struct {
	// Y is the class probability on the image, O on the explanation map
	// E = M ⊙ X.
	Y float64 `json:"y"`
	O float64 `json:"o"`
	// Drop is max(0, Y − O)/Y · 100 (0 when Y is 0).
	Drop float64 `json:"drop"`
	// Increase reports O > Y.
	Increase bool `json:"increase"`
}

// NormalizeMap returns sal mapped to [0, 1] for the explanation map:
// negative values (and NaN) become 0 and the rest are divided by the
// maximum, so a constant positive map is all ones and its explanation map
// is the image itself. A map with no positive value is all zeros.
func NormalizeMap(sal []float32) []float32 {
	mx := float32(0)
	for _, v := range sal {
		if v > mx && !math.IsInf(float64(v), 1) {
			mx = v
		}
	}
	out := make([]float32, len(sal))
	if mx == 0 {
		return out
	}
	for i, v := range sal {
		switch {
		case math.IsInf(float64(v), 1):
			out[i] = 1
		case v > 0:
			out[i] = min(v/mx, 1)
		}
	}
	return out
}

// Confidences scores each image and its explanation map E = M ⊙ X, where M
// is the image's map at input resolution (Saliency) normalised by
// NormalizeMap and multiplied into every channel, and returns Y and O for
// each image. Average Drop and Increase in Confidence over the batch are
// AverageDrop and IncreaseInConfidence of the result.
func Confidences(ctx context.Context, s Scorer, images, maps *tensor.Tensor, classes []int, cfg Config) ([]Confidence, error) {
	if s == nil {
		return nil, fmt.Errorf("average drop: no scorer")
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("average drop: %w", err)
	}
	b, h, w, c, err := checkBatch(images, maps, classes)
	if err != nil {
		return nil, fmt.Errorf("average drop: %w", err)
	}
	per := h * w * c
	out := make([]Confidence, b)
	bs := max(1, cfg.batchSize()/2)
	for start := 0; start < b; start += bs {
		n := min(bs, b-start)
		// Rows 0..n-1: the images; rows n..2n-1: their explanation maps.
		batch := tensor.New(tensor.Float32, 2*n, h, w, c)
		copy(batch.F32[:n*per], images.F32[start*per:(start+n)*per])
		for j := range n {
			m := NormalizeMap(Saliency(maps, start+j, h, w))
			img := images.F32[(start+j)*per : (start+j+1)*per]
			dst := batch.F32[(n+j)*per : (n+j+1)*per]
			for p, mv := range m {
				for k := range c {
					dst[p*c+k] = mv * img[p*c+k]
				}
			}
		}
		rows, err := s(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("average drop: %w", err)
		}
		if len(rows) != 2*n {
			return nil, fmt.Errorf("average drop: scorer returned %d rows for %d images", len(rows), 2*n)
		}
		for j := range n {
			k := classes[start+j]
			if k >= len(rows[j]) || k >= len(rows[n+j]) {
				return nil, fmt.Errorf("average drop: image %d: class %d out of range: the scorer gives %d classes", start+j, k, len(rows[j]))
			}
			y, o := rows[j][k], rows[n+j][k]
			cf := Confidence{Y: y, O: o, Increase: o > y}
			if y > 0 {
				cf.Drop = math.Max(0, y-o) / y * 100
			}
			out[start+j] = cf
		}
	}
	return out, nil
}

// AverageDrop returns the mean of Drop over cs, in percent (NaN for none).
func AverageDrop(cs []Confidence) float64 {
	if len(cs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, c := range cs {
		s += c.Drop
	}
	return s / float64(len(cs))
}

// IncreaseInConfidence returns the percentage of cs with O > Y (NaN for
// none).
func IncreaseInConfidence(cs []Confidence) float64 {
	if len(cs) == 0 {
		return math.NaN()
	}
	n := 0
	for _, c := range cs {
		if c.Increase {
			n++
		}
	}
	return 100 * float64(n) / float64(len(cs))
}
