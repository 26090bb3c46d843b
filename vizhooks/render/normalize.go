package render

import "math"

// Scale is a fixed value range: Min maps to 0 and Max to 1.
type Scale struct{ Min, Max float64 }

// Valid reports whether s is a usable fixed range (finite, Max > Min).
func (s Scale) Valid() bool {
	return s.Max > s.Min && !math.IsInf(s.Min, 0) && !math.IsInf(s.Max, 0)
}

// Normalizer maps raw map values to [0, 1] for a colormap.
//
// The zero value normalises each map by its own minimum and maximum
// (per-image min-max, what CAM tools show). Setting Scale to a valid range
// instead uses that fixed range for every map, clipping outside it, so that
// change over training stays visible from one step to the next.
//
// In both modes NaN and ±Inf never reach the output: they are left out of
// the minimum and maximum and map to 0. A constant map (max = min, or no
// finite value at all) normalises to all zeros.
type Normalizer struct {
	// Scale, when valid (Max > Min, both finite), is the fixed range;
	// otherwise maps are normalised per map.
	Scale Scale
}

// Normalize writes the normalised m to dst (reused when cap(dst) ≥ len(m))
// and returns it.
func (n Normalizer) Normalize(m []float32, dst []float32) []float32 {
	if cap(dst) >= len(m) {
		dst = dst[:len(m)]
	} else {
		dst = make([]float32, len(m))
	}
	lo, hi := n.Scale.Min, n.Scale.Max
	if !n.Scale.Valid() {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range m {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			if f < lo {
				lo = f
			}
			if f > hi {
				hi = f
			}
		}
	}
	if !(hi > lo) {
		clear(dst)
		return dst
	}
	inv := 1 / (hi - lo)
	for i, v := range m {
		x := (float64(v) - lo) * inv
		switch {
		case x >= 0 && x <= 1:
			dst[i] = float32(x)
		case x > 1 && !math.IsInf(x, 1):
			dst[i] = 1
		default: // below the range, NaN or ±Inf
			dst[i] = 0
		}
	}
	return dst
}

// MinMax normalises m by its own minimum and maximum; it is
// Normalizer{}.Normalize.
func MinMax(m []float32, dst []float32) []float32 { return Normalizer{}.Normalize(m, dst) }
