package native

import (
	"context"
	"fmt"
	"strings"
	"unsafe"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// plan is what one call executes: the nodes needed for its outputs, in
// topological order, with the number of reads of each value.
type plan struct {
	fed map[graph.Endpoint]*tensor.Tensor
	// order lists the nodes to execute (needed and not cut by a feed).
	order []*graph.Node
	// reads[s] counts the reads of slot s by nodes of order.
	reads []int32
	// pinned[s] marks slots returned to the caller (never dropped).
	pinned []bool
}

// newPlan computes which nodes produce outputs given the feeds: the graph
// pruned to outputs, with fed nodes as sources (as graph.Prune with the fed
// nodes as stops), without copying the nodes. The first npin outputs are
// returned to the caller, so they are never dropped.
func (e *Engine) newPlan(fed map[graph.Endpoint]*tensor.Tensor, outputs []graph.Endpoint, npin int) (*plan, error) {
	g := e.g
	cut := make([]bool, len(g.Nodes))
	for ep := range fed {
		cut[ep.Node.ID] = true
	}
	need := make([]bool, len(g.Nodes))
	stack := make([]*graph.Node, 0, len(outputs))
	for _, ep := range outputs {
		stack = append(stack, ep.Node)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if need[n.ID] {
			continue
		}
		need[n.ID] = true
		if cut[n.ID] {
			continue
		}
		for _, in := range n.Inputs {
			if !need[in.Node.ID] {
				stack = append(stack, in.Node)
			}
		}
	}
	p := &plan{fed: fed, reads: make([]int32, e.nslots), pinned: make([]bool, e.nslots)}
	var missing []string
	for _, n := range g.Nodes {
		if !need[n.ID] || cut[n.ID] {
			continue
		}
		if n.Value == nil && n.Op == "Placeholder" {
			missing = append(missing, placeholderDesc(n))
			continue
		}
		p.order = append(p.order, n)
		for _, in := range n.Inputs {
			p.reads[e.slot(in)]++
			if cut[in.Node.ID] {
				if _, ok := fed[in]; !ok {
					return nil, fmt.Errorf("native: node %s reads %s, but node %s is cut by a feed of another of its outputs; feed %s too", n, in, in.Node.Name, in)
				}
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("native: placeholder not fed: %s", strings.Join(missing, "; "))
	}
	for k, ep := range outputs {
		if cut[ep.Node.ID] {
			if _, ok := fed[ep]; !ok {
				return nil, fmt.Errorf("native: %s is requested, but node %s is cut by a feed of another of its outputs; feed %s too", ep, ep.Node.Name, ep)
			}
		}
		if k < npin {
			p.pinned[e.slot(ep)] = true
		}
	}
	return p, nil
}

// run is the state of one forward pass.
type run struct {
	e *Engine
	p *plan
	// vals holds the live value of each slot.
	vals []*tensor.Tensor
	// left counts the reads of each slot still to come.
	left []int32
	// borrowed marks values that share memory with a graph constant or a
	// feed: they are copied before being handed to the caller.
	borrowed []bool
	// dtypes and shapes record every produced value's type and shape, for
	// the backward pass's checks and zero gradients.
	dtypes []tensor.DType
	shapes [][]int
	// bufs, when set, lends kernels output buffers and takes back those of
	// dead values that nothing live or kept shares.
	bufs *runBuffers
}

func (e *Engine) newRun(p *plan) *run {
	r := &run{
		e:        e,
		p:        p,
		vals:     make([]*tensor.Tensor, e.nslots),
		left:     append([]int32(nil), p.reads...),
		borrowed: make([]bool, e.nslots),
		dtypes:   make([]tensor.DType, e.nslots),
		shapes:   make([][]int, e.nslots),
	}
	for ep, t := range p.fed {
		s := e.slot(ep)
		r.vals[s] = t
		r.borrowed[s] = true
		r.dtypes[s] = t.DType
		r.shapes[s] = t.Shape
	}
	if e.observe == nil {
		// Only a test hook sees values outside the run; otherwise a dead
		// value's buffer is recycled (a gradient pass keeps what its
		// backward pass reads: see backwardState.keep).
		r.bufs = &runBuffers{pool: &e.bufs}
	}
	return r
}

// afterFunc is called by forward after each node ran, while its inputs are
// still live; the gradient pass uses it to keep what Backward reads.
type afterFunc func(n *graph.Node, in, out []*tensor.Tensor)

// forward executes the plan. Values are dropped as soon as their last
// reader has run, unless pinned.
func (r *run) forward(ctx context.Context, after afterFunc, relu engine.ReluMode) error {
	e := r.e
	// Values fed but never read nor returned are dead from the start.
	for ep := range r.p.fed {
		r.maybeDrop(e.slot(ep), ep)
	}
	for _, n := range r.p.order {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("native: canceled before %s: %w", n, err)
		}
		in := make([]*tensor.Tensor, len(n.Inputs))
		for j, ep := range n.Inputs {
			v := r.vals[e.slot(ep)]
			if v == nil {
				return fmt.Errorf("native: internal error: input %d (%s) of %s is not live", j, ep, n)
			}
			in[j] = v
		}
		var out []*tensor.Tensor
		borrowed := false
		if n.Value != nil {
			out = make([]*tensor.Tensor, n.NumOutputs)
			out[0] = n.Value
			borrowed = true
		} else {
			var err error
			kc := &kernel.Context{Node: n, Relu: relu}
			if r.bufs != nil {
				kc.Buffers = r.bufs
			}
			out, err = e.defs[n.ID].Forward(kc, in)
			if err != nil {
				if !strings.Contains(err.Error(), n.Name) {
					err = fmt.Errorf("%s: %w", n, err)
				}
				return fmt.Errorf("native: %w", err)
			}
			if len(out) != n.NumOutputs {
				return fmt.Errorf("native: %s: kernel returned %d outputs, the node has %d", n, len(out), n.NumOutputs)
			}
		}
		for i, t := range out {
			s := e.off[n.ID] + i
			if t == nil {
				if r.left[s] > 0 || r.p.pinned[s] {
					return fmt.Errorf("native: %s: kernel returned no value for output %d, which is needed", n, i)
				}
				continue
			}
			r.vals[s] = t
			r.dtypes[s] = t.DType
			r.shapes[s] = t.Shape
			r.borrowed[s] = borrowed || r.aliasesBorrowed(t, n)
		}
		if e.observe != nil {
			e.observe(n, in, out)
		}
		if after != nil {
			after(n, in, out)
		}
		for _, ep := range n.Inputs {
			s := e.slot(ep)
			r.left[s]--
			r.maybeDrop(s, ep)
		}
		for i := range out {
			r.maybeDrop(e.off[n.ID]+i, n.Output(i))
		}
	}
	return nil
}

// maybeDrop releases slot s when no read of it is left and it is not
// returned to the caller.
func (r *run) maybeDrop(s int, ep graph.Endpoint) {
	if r.left[s] > 0 || r.p.pinned[s] || r.vals[s] == nil {
		return
	}
	t := r.vals[s]
	r.vals[s] = nil
	if r.bufs != nil && !r.borrowed[s] && r.bufs.lends(t) && !r.sharesLive(t) {
		r.bufs.reclaim(t)
	}
	if r.e.release != nil {
		r.e.release(ep)
	}
}

// sharesLive reports whether a live or kept value shares memory with t
// (kernels may return their inputs, or views of them, as outputs).
func (r *run) sharesLive(t *tensor.Tensor) bool {
	for _, v := range r.vals {
		if v != nil && overlaps(t, v) {
			return true
		}
	}
	for _, v := range r.bufs.kept {
		if overlaps(t, v) {
			return true
		}
	}
	return false
}

// aliasesBorrowed reports whether t shares memory with a borrowed input of
// n (kernels may return inputs or views of them).
func (r *run) aliasesBorrowed(t *tensor.Tensor, n *graph.Node) bool {
	for _, ep := range n.Inputs {
		s := r.e.slot(ep)
		if r.borrowed[s] && r.vals[s] != nil && overlaps(t, r.vals[s]) {
			return true
		}
	}
	return false
}

// owned returns slot s's value for the caller: a copy when it shares
// memory with a constant or a feed, or when the same value was already
// handed out (copy).
func (r *run) owned(s int, copyAnyway bool) *tensor.Tensor {
	t := r.vals[s]
	if t == nil {
		return nil
	}
	if copyAnyway || r.borrowed[s] {
		return t.Clone()
	}
	return t
}

// overlaps reports whether the data of a and b share memory.
func overlaps(a, b *tensor.Tensor) bool {
	a0, a1 := dataRange(a)
	b0, b1 := dataRange(b)
	return a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1
}

func dataRange(t *tensor.Tensor) (uintptr, uintptr) {
	var p unsafe.Pointer
	var n, size uintptr
	switch t.DType {
	case tensor.Float32:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.F32)), uintptr(cap(t.F32)), 4
	case tensor.Float64:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.F64)), uintptr(cap(t.F64)), 8
	case tensor.Int32:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.I32)), uintptr(cap(t.I32)), 4
	case tensor.Int64:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.I64)), uintptr(cap(t.I64)), 8
	case tensor.Bool:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.B)), uintptr(cap(t.B)), 1
	case tensor.Uint8:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.U8)), uintptr(cap(t.U8)), 1
	case tensor.String:
		p, n, size = unsafe.Pointer(unsafe.SliceData(t.Str)), uintptr(cap(t.Str)), unsafe.Sizeof([]byte(nil))
	}
	if p == nil {
		return 0, 0
	}
	start := uintptr(p)
	return start, start + n*size
}
