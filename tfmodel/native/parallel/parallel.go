// Package parallel runs the native engine's parallel loops on persistent
// workers that spin briefly for work before parking.
//
// A forward pass through a CNN is a few hundred kernels of a millisecond or
// less. Starting a goroutine per kernel and waking an idle thread for it
// costs tens of microseconds each time (a futex wake and a scheduler
// hand-off), enough to leave the second core mostly idle at batch 1. Here
// GOMAXPROCS-1 workers live for the life of the process; after each task
// they keep polling for about SpinTime before they park, so the next
// kernel's work is picked up at once.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// SpinTime is how long an idle worker polls for work before parking.
const SpinTime = 200 * time.Microsecond

var (
	queue   = make(chan func(), 256)
	mu      sync.Mutex
	started int
)

// ensure starts workers until there are at least n.
func ensure(n int) {
	mu.Lock()
	defer mu.Unlock()
	for ; started < n; started++ {
		go worker()
	}
}

func worker() {
	for {
		select {
		case f := <-queue:
			f()
			continue
		default:
		}
		if f := spin(); f != nil {
			f()
			continue
		}
		f := <-queue // park
		f()
	}
}

// spin polls the queue for about SpinTime, yielding between polls.
func spin() func() {
	deadline := time.Now().Add(SpinTime)
	for i := 0; ; i++ {
		select {
		case f := <-queue:
			return f
		default:
		}
		if i&63 == 63 && time.Now().After(deadline) {
			return nil
		}
		runtime.Gosched()
	}
}

// Do runs fn on w goroutines at once, the caller being one of them, and
// returns when every call has returned. fn usually pulls its share of the
// work from a shared atomic counter.
func Do(w int, fn func()) {
	if w <= 1 {
		fn()
		return
	}
	ensure(runtime.GOMAXPROCS(0) - 1)
	var pending atomic.Int32
	pending.Store(int32(w - 1))
	task := func() {
		defer pending.Add(-1)
		fn()
	}
	for range w - 1 {
		select {
		case queue <- task:
		default:
			task() // queue full (nested or concurrent loops): run it here
		}
	}
	fn()
	// Help with queued work (ours or another loop's) while waiting, so
	// nested loops cannot deadlock.
	for pending.Load() > 0 {
		select {
		case f := <-queue:
			f()
		default:
			runtime.Gosched()
		}
	}
}

// For splits [0, n) into at most GOMAXPROCS contiguous chunks of at least
// minPerWorker items and calls fn on each, concurrently; it returns when
// all have returned.
func For(n, minPerWorker int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := min(runtime.GOMAXPROCS(0), n/max(minPerWorker, 1))
	if w <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + w - 1) / w
	var next atomic.Int32
	Do(w, func() {
		for {
			lo := int(next.Add(1)-1) * chunk
			if lo >= n {
				return
			}
			fn(lo, min(lo+chunk, n))
		}
	})
}
