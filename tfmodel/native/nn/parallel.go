package nn

import (
	"runtime"
	"sync"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// nnParallelFor runs fn over [0, n) split into contiguous ranges, one per
// worker (up to GOMAXPROCS), giving each worker at least minPerWorker
// items; small loops run inline on the calling goroutine.
func nnParallelFor(n, minPerWorker int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := runtime.GOMAXPROCS(0)
	if minPerWorker < 1 {
		minPerWorker = 1
	}
	w = min(w, n/minPerWorker)
	if w <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + w - 1) / w
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// Scratch buffers for the hot paths (im2col columns and their gradients),
// recycled through sync.Pools so a forward pass does not allocate them
// per call.
var nnScratch32, nnScratch64 sync.Pool

// nnGetScratch returns a slice of length n with unspecified contents.
func nnGetScratch[T tensor.Float](n int) []T {
	var z T
	var p *sync.Pool
	if _, ok := any(z).(float32); ok {
		p = &nnScratch32
	} else {
		p = &nnScratch64
	}
	if v, ok := p.Get().(*[]T); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]T, n)
}

// nnPutScratch returns a slice from nnGetScratch to its pool.
func nnPutScratch[T tensor.Float](s []T) {
	var z T
	if _, ok := any(z).(float32); ok {
		nnScratch32.Put(&s)
	} else {
		nnScratch64.Put(&s)
	}
}
