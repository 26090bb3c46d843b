package tbwriter

import (
	"math"
	"math/rand/v2"
	"testing"
)

func bucketsEqual(t *testing.T, got, want []Bucket) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d buckets, want %d: %v", len(got), len(want), got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("bucket %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestBucketsHandComputed(t *testing.T) {
	// 0..10 in 5 buckets of width 2; 10 (the max) lands in the last bucket.
	bucketsEqual(t, Buckets([]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5), []Bucket{
		{0, 2, 2}, {2, 4, 2}, {4, 6, 2}, {6, 8, 2}, {8, 10, 3},
	})
	// Unsorted, negative, duplicated.
	bucketsEqual(t, Buckets([]float64{-1, 3, -1, 1, 2.5}, 2), []Bucket{{-1, 1, 2}, {1, 3, 3}})
}

func TestBucketsEdgeCases(t *testing.T) {
	zeros := make([]Bucket, 4)
	bucketsEqual(t, Buckets(nil, 4), zeros)
	bucketsEqual(t, Buckets([]float64{math.NaN(), math.Inf(1)}, 4), zeros)
	if got := Buckets(nil, 0); len(got) != DefaultBuckets {
		t.Errorf("k=0 gives %d buckets, want %d", len(got), DefaultBuckets)
	}
	// All equal: every bucket is [c, c], the last holds the count.
	bucketsEqual(t, Buckets([]float64{3, 3, 3}, 4), []Bucket{{3, 3, 0}, {3, 3, 0}, {3, 3, 0}, {3, 3, 3}})
	// Non-finite values are left out.
	bucketsEqual(t, Buckets([]float64{math.NaN(), 1, math.Inf(1), 2, math.Inf(-1)}, 2), []Bucket{{1, 1.5, 1}, {1.5, 2, 1}})
	// A range that overflows float64.
	got := Buckets([]float64{-math.MaxFloat64, math.MaxFloat64, 0.5}, 2)
	bucketsEqual(t, got, []Bucket{{-math.MaxFloat64, 0, 1}, {0, math.MaxFloat64, 2}})
}

// The oracle assigns each value by comparing it with the edges, the
// definition of a histogram, instead of the floor division Buckets uses.
func TestBucketsAgainstComparisonOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		k := 1 + rng.IntN(40)
		lo, hi := rng.NormFloat64()*10, 0.0
		hi = lo + math.Exp(rng.NormFloat64()*3)
		width := (hi - lo) / float64(k)
		vals := []float64{lo, hi}
		for len(vals) < 200 {
			v := lo + rng.Float64()*(hi-lo)
			f := (v - lo) / width
			if math.Abs(f-math.Round(f)) < 1e-6 {
				continue // too close to an edge for rounding to be unambiguous
			}
			vals = append(vals, v)
		}
		got := Buckets(vals, k)
		counts := make([]float64, k)
		for _, v := range vals {
			idx := k - 1
			for i := range k {
				right := lo + float64(i+1)*width
				if i == k-1 || v < right {
					idx = i
					break
				}
			}
			counts[idx]++
		}
		for i := range k {
			if got[i].Count != counts[i] {
				t.Fatalf("trial %d bucket %d/%d: count %v, oracle %v", trial, i, k, got[i].Count, counts[i])
			}
			if want := lo + float64(i)*width; math.Abs(got[i].Left-want) > 1e-12*math.Max(1, math.Abs(want)) {
				t.Fatalf("trial %d bucket %d: left %v, want %v", trial, i, got[i].Left, want)
			}
		}
		if got[0].Left != lo || got[k-1].Right != hi {
			t.Fatalf("trial %d: edges %v..%v, want %v..%v", trial, got[0].Left, got[k-1].Right, lo, hi)
		}
	}
}
