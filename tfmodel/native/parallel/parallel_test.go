package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestForCoversEachIndexOnce checks every index is visited exactly once,
// for sizes around the chunking boundaries and with several GOMAXPROCS.
func TestForCoversEachIndexOnce(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		old := runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 3, 7, 64, 1001} {
			for _, minPer := range []int{0, 1, 5, 100} {
				seen := make([]atomic.Int32, n)
				For(n, minPer, func(lo, hi int) {
					if lo >= hi || lo < 0 || hi > n {
						t.Errorf("procs %d n %d: bad range [%d, %d)", procs, n, lo, hi)
						return
					}
					if hi-lo < minPer && hi != n {
						t.Errorf("procs %d n %d: range [%d, %d) smaller than %d", procs, n, lo, hi, minPer)
					}
					for i := lo; i < hi; i++ {
						seen[i].Add(1)
					}
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Fatalf("procs %d n %d minPer %d: index %d visited %d times", procs, n, minPer, i, c)
					}
				}
			}
		}
		runtime.GOMAXPROCS(old)
	}
}

// TestNestedAndConcurrentLoops runs loops inside loops from several
// goroutines at once, more than the queue holds: nothing deadlocks and
// every inner index is counted once.
func TestNestedAndConcurrentLoops(t *testing.T) {
	old := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(old)
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			For(40, 1, func(lo, hi int) {
				for range hi - lo {
					For(50, 1, func(lo, hi int) { total.Add(int64(hi - lo)) })
				}
			})
		}()
	}
	wg.Wait()
	if got, want := total.Load(), int64(8*40*50); got != want {
		t.Fatalf("counted %d, want %d", got, want)
	}
}

// TestDoRunsFnWTimes checks Do calls fn exactly w times and waits for all.
func TestDoRunsFnWTimes(t *testing.T) {
	for _, w := range []int{0, 1, 2, 3, 9} {
		var calls atomic.Int32
		Do(w, func() { calls.Add(1) })
		want := int32(max(w, 1))
		if got := calls.Load(); got != want {
			t.Errorf("Do(%d): %d calls, want %d", w, got, want)
		}
	}
}

func BenchmarkForSmall(b *testing.B) {
	buf := make([]float32, 4096)
	for b.Loop() {
		For(len(buf), 256, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				buf[i] += 1
			}
		})
	}
}
