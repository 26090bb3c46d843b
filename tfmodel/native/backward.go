package native

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Gradients runs one forward pass over what the request's Targets, Fetches
// and Wrt need, calls req.Seed with the forward values of Targets and
// Fetches, and runs one backward pass from the seeded targets to every Wrt
// tensor.
//
// Only nodes on a path from a Wrt tensor to a Target are differentiated;
// gradients stop at fed tensors and do not flow through integer tensors
// (shapes, indices). A Wrt tensor the objective does not depend on gets a
// zero gradient of its own dtype and shape. A node without a backward
// function that a gradient must flow through is an error naming it.
func (e *Engine) Gradients(ctx context.Context, req engine.GradRequest) (*engine.GradResult, error) {
	done, err := e.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("native: gradients: %w", err)
	}
	defer done()
	if len(req.Targets) == 0 {
		return nil, errors.New("native: gradients: no targets")
	}
	if req.Seed == nil {
		return nil, errors.New("native: gradients: no Seed function")
	}
	fed, err := e.resolveFeeds(req.Feeds)
	if err != nil {
		return nil, err
	}
	targets, err := e.resolveAll("target", req.Targets)
	if err != nil {
		return nil, err
	}
	fetches, err := e.resolveAll("fetch", req.Fetches)
	if err != nil {
		return nil, err
	}
	wrt, err := e.resolveAll("wrt", req.Wrt)
	if err != nil {
		return nil, err
	}
	all := make([]graph.Endpoint, 0, len(targets)+len(fetches)+len(wrt))
	all = append(append(append(all, targets...), fetches...), wrt...)
	p, err := e.newPlan(fed, all, len(targets)+len(fetches))
	if err != nil {
		return nil, err
	}
	r := e.newRun(p)
	b := e.newBackward(r, targets, wrt)
	if err := r.forward(ctx, b.keep, req.Relu); err != nil {
		return nil, err
	}

	// Forward values for the caller and for Seed.
	values := make(map[string]*tensor.Tensor, len(req.Targets)+len(req.Fetches))
	seen := map[int]bool{}
	for i, name := range req.Targets {
		if _, dup := values[name]; dup {
			continue
		}
		s := e.slot(targets[i])
		values[name] = r.owned(s, seen[s])
		seen[s] = true
	}
	for i, name := range req.Fetches {
		if _, dup := values[name]; dup {
			continue
		}
		s := e.slot(fetches[i])
		values[name] = r.owned(s, seen[s])
		seen[s] = true
	}
	// Seed gets its own map, so adding or deleting keys does not change ours.
	seedView := make(map[string]*tensor.Tensor, len(values))
	for k, v := range values {
		seedView[k] = v
	}
	seeds, err := req.Seed(seedView)
	if err != nil {
		return nil, fmt.Errorf("native: gradients: seed: %w", err)
	}
	if err := b.seed(seeds, req.Targets, targets); err != nil {
		return nil, err
	}
	if err := b.backward(ctx, req.Relu); err != nil {
		return nil, err
	}
	grads := make(map[string]*tensor.Tensor, len(wrt))
	handed := map[int]bool{}
	for i, name := range req.Wrt {
		s := e.slot(wrt[i])
		g := b.grads[s]
		switch {
		case g == nil:
			g = tensor.New(r.dtypes[s], r.shapes[s]...)
		case handed[s] || !b.ownGrad[s]:
			// Gradients may alias a seed or another gradient (Identity's
			// backward returns its upstream gradient); hand out a copy.
			g = g.Clone()
		}
		handed[s] = true
		grads[name] = g
	}
	return &engine.GradResult{Values: values, Grads: grads}, nil
}

// backwardState is the gradient bookkeeping of one Gradients call.
type backwardState struct {
	r *run
	// isTarget marks nodes producing a target; reach marks nodes from
	// which a target is reachable (computed before the forward pass).
	reach []bool
	// isWrt marks Wrt slots; live marks float slots that depend on a Wrt
	// slot (filled during the forward pass as dtypes become known).
	isWrt []bool
	live  []bool
	// onPath marks the nodes the backward pass differentiates.
	onPath []bool
	// saved inputs and outputs of onPath nodes, as Backward reads them.
	savedIn  [][]*tensor.Tensor
	savedOut [][]*tensor.Tensor
	// grads holds accumulated gradients by slot; ownGrad marks those the
	// pass allocated itself (safe to add into).
	grads   []*tensor.Tensor
	ownGrad []bool
	minWrt  int
}

func (e *Engine) newBackward(r *run, targets, wrt []graph.Endpoint) *backwardState {
	nn := len(e.g.Nodes)
	b := &backwardState{
		r:        r,
		reach:    make([]bool, nn),
		isWrt:    make([]bool, e.nslots),
		live:     make([]bool, e.nslots),
		onPath:   make([]bool, nn),
		savedIn:  make([][]*tensor.Tensor, nn),
		savedOut: make([][]*tensor.Tensor, nn),
		grads:    make([]*tensor.Tensor, e.nslots),
		ownGrad:  make([]bool, e.nslots),
		minWrt:   nn,
	}
	for _, ep := range targets {
		b.reach[ep.Node.ID] = true
	}
	order := r.p.order
	for k := len(order) - 1; k >= 0; k-- {
		n := order[k]
		if !b.reach[n.ID] {
			continue
		}
		for _, in := range n.Inputs {
			b.reach[in.Node.ID] = true
		}
	}
	for _, ep := range wrt {
		b.isWrt[e.slot(ep)] = true
		b.minWrt = min(b.minWrt, ep.Node.ID)
	}
	// Fed Wrt tensors are sources of the differentiated subgraph.
	for ep, t := range r.p.fed {
		s := e.slot(ep)
		b.live[s] = b.isWrt[s] && t.DType.IsFloat()
	}
	return b
}

// keep runs after each forward node: it decides whether the node is on a
// Wrt→Target path and, if so, keeps what its Backward reads.
func (b *backwardState) keep(n *graph.Node, in, out []*tensor.Tensor) {
	e := b.r.e
	dep := false
	for _, ep := range n.Inputs {
		if b.live[e.slot(ep)] {
			dep = true
			break
		}
	}
	floatOut := false
	for i, t := range out {
		if t == nil || !t.DType.IsFloat() {
			continue
		}
		s := e.off[n.ID] + i
		floatOut = true
		b.live[s] = dep || b.isWrt[s]
	}
	if !dep || !floatOut || !b.reach[n.ID] {
		return
	}
	b.onPath[n.ID] = true
	if n.Value != nil {
		return
	}
	d := e.defs[n.ID]
	if d.Backward == nil {
		return
	}
	si := make([]*tensor.Tensor, len(in))
	if d.KeepInputs == nil {
		copy(si, in)
	} else {
		for _, j := range d.KeepInputs {
			if j >= 0 && j < len(in) {
				si[j] = in[j]
			}
		}
	}
	so := make([]*tensor.Tensor, len(out))
	for _, j := range d.KeepOutputs {
		if j >= 0 && j < len(out) {
			so[j] = out[j]
		}
	}
	b.savedIn[n.ID], b.savedOut[n.ID] = si, so
	if b.r.bufs != nil {
		b.r.bufs.keep(si...)
		b.r.bufs.keep(so...)
	}
}

// seed validates the seeds returned by req.Seed and installs them as the
// gradients of the target slots.
func (b *backwardState) seed(seeds map[string]*tensor.Tensor, names []string, targets []graph.Endpoint) error {
	r := b.r
	idx := make(map[string]int, len(names))
	for i, name := range names {
		idx[name] = i
	}
	keys := make([]string, 0, len(seeds))
	for k := range seeds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		sd := seeds[name]
		i, ok := idx[name]
		if !ok {
			return fmt.Errorf("native: gradients: seed for %q, which is not a target (targets: %s)", name, strings.Join(names, ", "))
		}
		if sd == nil {
			continue
		}
		if err := checkTensor(sd); err != nil {
			return fmt.Errorf("native: gradients: seed for %q: %w", name, err)
		}
		s := r.e.slot(targets[i])
		if sd.DType != r.dtypes[s] || !tensor.SameShape(sd.Shape, r.shapes[s]) {
			return fmt.Errorf("native: gradients: seed for %q is %v%s, the target is %v%s", name, sd.DType, tensor.ShapeString(sd.Shape), r.dtypes[s], tensor.ShapeString(r.shapes[s]))
		}
		if !sd.DType.IsFloat() {
			return fmt.Errorf("native: gradients: target %q is %v; only float tensors carry gradients", name, sd.DType)
		}
		b.accumulate(s, sd)
	}
	return nil
}

// accumulate adds g into the gradient of slot s. The first contribution is
// stored as is (it may alias a kernel's or the caller's tensor); a second
// one allocates the sum.
func (b *backwardState) accumulate(s int, g *tensor.Tensor) {
	cur := b.grads[s]
	if cur == nil {
		b.grads[s] = g
		return
	}
	if !b.ownGrad[s] {
		cur = cur.Clone()
		b.grads[s] = cur
		b.ownGrad[s] = true
	}
	switch cur.DType {
	case tensor.Float32:
		addTo(cur.F32, g.F32)
	case tensor.Float64:
		addTo(cur.F64, g.F64)
	}
}

func addTo[T tensor.Float](dst, src []T) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// backward walks the onPath nodes in reverse topological order.
func (b *backwardState) backward(ctx context.Context, relu engine.ReluMode) error {
	r := b.r
	e := r.e
	order := r.p.order
	for k := len(order) - 1; k >= 0; k-- {
		n := order[k]
		if n.ID <= b.minWrt {
			// Every Wrt gradient is final: all nodes that read a Wrt
			// tensor come after the earliest Wrt node.
			break
		}
		if !b.onPath[n.ID] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("native: canceled in backward pass at %s: %w", n, err)
		}
		base := e.off[n.ID]
		dout := make([]*tensor.Tensor, n.NumOutputs)
		has := false
		for i := range dout {
			dout[i] = b.grads[base+i]
			has = has || dout[i] != nil
		}
		if !has {
			b.free(n)
			continue
		}
		d := e.defs[n.ID]
		if n.Value != nil {
			b.free(n)
			continue
		}
		if d.Backward == nil {
			return fmt.Errorf("native: gradients: op %s (node %s) is not differentiable, and the gradient flows through it", n.Op, n.Name)
		}
		din, err := d.Backward(&kernel.Context{Node: n, Relu: relu}, b.savedIn[n.ID], b.savedOut[n.ID], dout)
		if err != nil {
			if !strings.Contains(err.Error(), n.Name) {
				err = fmt.Errorf("%s: %w", n, err)
			}
			return fmt.Errorf("native: gradients: %w", err)
		}
		if len(din) != len(n.Inputs) {
			return fmt.Errorf("native: gradients: %s: backward returned %d gradients for %d inputs", n, len(din), len(n.Inputs))
		}
		for j, g := range din {
			if g == nil {
				continue
			}
			s := e.slot(n.Inputs[j])
			if !b.live[s] {
				continue
			}
			if g.DType != r.dtypes[s] || !tensor.SameShape(g.Shape, r.shapes[s]) {
				return fmt.Errorf("native: gradients: %s: backward returned a %v%s gradient for input %d (%s), which is %v%s", n, g.DType, tensor.ShapeString(g.Shape), j, n.Inputs[j], r.dtypes[s], tensor.ShapeString(r.shapes[s]))
			}
			b.accumulate(s, g)
		}
		b.free(n)
	}
	return nil
}

// free drops what node n kept for the backward pass and the gradients of
// its outputs (except Wrt gradients, which are returned).
func (b *backwardState) free(n *graph.Node) {
	b.savedIn[n.ID], b.savedOut[n.ID] = nil, nil
	base := b.r.e.off[n.ID]
	for i := range n.NumOutputs {
		if !b.isWrt[base+i] {
			b.grads[base+i] = nil
		}
	}
}
