package tbwriter

import "math"

// DefaultBuckets is the number of histogram buckets used when
// Options.HistogramBuckets is zero, as in TensorBoard.
const DefaultBuckets = 30

// Bucket is one row of a histogram: the values in [Left, Right) (the last
// bucket also includes its right edge) and how many there were.
type Bucket struct {
	Left, Right, Count float64
}

// Buckets computes the histogram TensorBoard's histogram summary_v2 builds
// for values with k buckets (k <= 0 means [DefaultBuckets]):
//
//   - Non-finite values (NaN, ±Inf) are left out: TensorBoard cannot place
//     them and its own code would produce garbage edges. Callers that care
//     should count them separately (for instance as a scalar).
//   - No (finite) values: k buckets of (0, 0, 0).
//   - All values equal to c: k buckets with Left = Right = c, all counts zero
//     except the last, which holds every value.
//   - Otherwise k equal-width buckets from min to max; bucket i starts at
//     min + i*width and a value v goes to floor((v-min)/width), clamped to the
//     last bucket, whose right edge is exactly max.
func Buckets(values []float64, k int) []Bucket {
	if k <= 0 {
		k = DefaultBuckets
	}
	out := make([]Bucket, k)
	lo, hi := math.Inf(1), math.Inf(-1)
	n := 0
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		n++
		lo = math.Min(lo, v)
		hi = math.Max(hi, v)
	}
	if n == 0 {
		return out
	}
	rng := hi - lo
	if rng == 0 || math.IsInf(rng, 0) {
		if rng != 0 {
			// max - min overflows float64 (values near ±MaxFloat64): fall
			// back to halving both ends so the width stays finite.
			return bucketsWide(values, k, lo, hi)
		}
		for i := range out {
			out[i] = Bucket{Left: lo, Right: lo}
		}
		out[k-1].Count = float64(n)
		return out
	}
	width := rng / float64(k)
	for i := range out {
		out[i].Left = lo + float64(i)*width
		if i > 0 {
			out[i-1].Right = out[i].Left
		}
	}
	out[k-1].Right = hi
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		i := int(math.Floor((v - lo) / width))
		if i >= k {
			i = k - 1
		}
		if i < 0 { // cannot happen for v >= lo; guards rounding
			i = 0
		}
		out[i].Count++
	}
	return out
}

// bucketsWide handles a range too wide for float64 by working on halved
// values; edges are scaled back, which is exact for powers of two.
func bucketsWide(values []float64, k int, lo, hi float64) []Bucket {
	half := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			half = append(half, v/2)
		}
	}
	out := Buckets(half, k)
	for i := range out {
		out[i].Left *= 2
		out[i].Right *= 2
	}
	out[0].Left, out[k-1].Right = lo, hi
	return out
}
