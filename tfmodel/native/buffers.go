package native

import (
	"sync"
	"unsafe"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// maxPooledBytes bounds the float32 buffers an Engine keeps for reuse
// between and within forward passes (typically one pass's working set).
const maxPooledBytes = 1 << 30

// bufPool keeps float32 buffers of dead intermediate values, by length, so
// the next output of that size reuses them instead of asking the Go heap
// for fresh, zeroed (often freshly faulted) memory: on MobileNetV2 that
// zeroing was over a third of a forward pass. Safe for concurrent use.
type bufPool struct {
	mu   sync.Mutex
	free map[int][][]float32
	held int64
}

func (p *bufPool) get(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.free[n]
	if len(l) == 0 {
		return nil
	}
	b := l[len(l)-1]
	l[len(l)-1] = nil
	p.free[n] = l[:len(l)-1]
	p.held -= int64(n) * 4
	return b
}

func (p *bufPool) put(b []float32) {
	size := int64(len(b)) * 4
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held+size > maxPooledBytes {
		return
	}
	if p.free == nil {
		p.free = map[int][][]float32{}
	}
	p.free[len(b)] = append(p.free[len(b)], b)
	p.held += size
}

// drain forgets every pooled buffer.
func (p *bufPool) drain() {
	p.mu.Lock()
	p.free, p.held = nil, 0
	p.mu.Unlock()
}

// runBuffers is one forward pass's view of the pool: it implements
// kernel.BufferPool and remembers which buffers it lent, so the executor
// returns exactly those (and no view, constant or feed) when they die.
type runBuffers struct {
	pool *bufPool
	lent map[*float32]int
	// kept are values a gradient pass reads after their last forward
	// read: nothing sharing their memory is recycled.
	kept []*tensor.Tensor
}

// keep records values that must outlive their slots (nil entries are
// skipped).
func (b *runBuffers) keep(ts ...*tensor.Tensor) {
	for _, t := range ts {
		if t != nil {
			b.kept = append(b.kept, t)
		}
	}
}

// Float32 returns a buffer of length n with arbitrary contents.
func (b *runBuffers) Float32(n int) []float32 {
	if n <= 0 {
		return make([]float32, n)
	}
	buf := b.pool.get(n)
	if buf == nil {
		buf = make([]float32, n)
	}
	if b.lent == nil {
		b.lent = map[*float32]int{}
	}
	b.lent[unsafe.SliceData(buf)] = n
	return buf
}

// reclaim returns t's buffer, which lends(t) reported, to the pool. The
// caller has checked that no live or kept value shares it.
func (b *runBuffers) reclaim(t *tensor.Tensor) {
	delete(b.lent, unsafe.SliceData(t.F32))
	b.pool.put(t.F32[:len(t.F32):len(t.F32)])
}

// lends reports whether t's data is a buffer this pass lent.
func (b *runBuffers) lends(t *tensor.Tensor) bool {
	if b == nil || t.DType != tensor.Float32 || len(t.F32) == 0 {
		return false
	}
	n, ok := b.lent[unsafe.SliceData(t.F32)]
	return ok && n == len(t.F32)
}
