package nn

import (
	"github.com/tbviz/tbviz/tfmodel/native/parallel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// nnParallelFor runs fn over [0, n) split into contiguous ranges, one per
// worker (up to GOMAXPROCS), giving each worker at least minPerWorker
// items; small loops run inline on the calling goroutine.
func nnParallelFor(n, minPerWorker int, fn func(lo, hi int)) {
	parallel.For(n, minPerWorker, fn)
}

// Scratch buffers for the hot paths (im2col columns and their gradients).
// A few buffers are kept in small bounded free lists that, unlike a
// sync.Pool, survive garbage collections: a forward pass through a model
// allocates large tensors, so GCs run between two convolutions and would
// empty a pool every time, making each convolution fault in fresh memory.
var (
	nnScratch32 = make(chan []float32, 4)
	nnScratch64 = make(chan []float64, 4)
)

// nnGetScratch returns a slice of length n with unspecified contents.
func nnGetScratch[T tensor.Float](n int) []T {
	var s []T
	switch ch := any(&s).(type) {
	case *[]float32:
		select {
		case *ch = <-nnScratch32:
		default:
		}
	case *[]float64:
		select {
		case *ch = <-nnScratch64:
		default:
		}
	}
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// nnPutScratch returns a slice from nnGetScratch to its free list (or
// drops it when the list is full).
func nnPutScratch[T tensor.Float](s []T) {
	switch v := any(s).(type) {
	case []float32:
		select {
		case nnScratch32 <- v:
		default:
		}
	case []float64:
		select {
		case nnScratch64 <- v:
		default:
		}
	}
}
