package native

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Options configures an Engine. The zero value is ready to use.
type Options struct {
	// Threads caps how many Run and Gradients calls the Engine executes at
	// the same time; further calls wait their turn (or for their context).
	// Each call is sequential over the graph and its kernels parallelise
	// internally, so running more calls at once than there are CPUs only
	// multiplies the memory held by live intermediates. Zero means
	// runtime.GOMAXPROCS(0); a negative value means no limit.
	Threads int
}

// Engine executes one graph with the native kernels. It implements
// engine.Engine and is safe for concurrent use: every call keeps its state
// to itself, and the graph is only read.
type Engine struct {
	g *graph.Graph
	// defs holds each node's kernel, by node ID; nodes with a Value and
	// Placeholders have none.
	defs []kernel.Def
	// off[id] is the slot of the node's output 0 in a run's value table;
	// output i is at off[id]+i.
	off    []int
	nslots int
	sem    chan struct{}
	closed atomic.Bool
	// bufs recycles the float32 buffers of dead values (forward-only runs).
	bufs bufPool

	// Test hooks, set only by this package's tests before any call.
	// observe sees every executed node with its inputs and outputs;
	// release sees every intermediate value the executor drops.
	observe func(n *graph.Node, in, out []*tensor.Tensor)
	release func(ep graph.Endpoint)
}

var _ engine.Engine = (*Engine)(nil)

// New returns an Engine for g. It fails, before anything runs, when an op
// of g has no kernel (one error listing every unsupported op and the nodes
// using it) or when a kernel's Check rejects its node (all such errors,
// joined).
func New(g *graph.Graph, opts *Options) (*Engine, error) {
	if g == nil {
		return nil, errors.New("native: nil graph")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	e := &Engine{
		g:    g,
		defs: make([]kernel.Def, len(g.Nodes)),
		off:  make([]int, len(g.Nodes)),
	}
	unsupported := map[string][]string{}
	var checkErrs []error
	for i, n := range g.Nodes {
		if n.ID != i {
			return nil, fmt.Errorf("native: node %s has ID %d at position %d; build graphs with graph.New", n, n.ID, i)
		}
		if n.NumOutputs < 0 {
			return nil, fmt.Errorf("native: node %s has %d outputs", n, n.NumOutputs)
		}
		e.off[i] = e.nslots
		e.nslots += n.NumOutputs
		if n.Value != nil {
			if n.NumOutputs < 1 {
				return nil, fmt.Errorf("native: constant node %s has no outputs", n)
			}
			if err := checkTensor(n.Value); err != nil {
				return nil, fmt.Errorf("native: constant node %s: %w", n, err)
			}
			continue
		}
		if n.Op == "Placeholder" {
			continue
		}
		d, ok := kernel.Lookup(n.Op)
		if !ok {
			unsupported[n.Op] = append(unsupported[n.Op], n.Name)
			continue
		}
		e.defs[i] = d
		if d.Check != nil {
			if err := d.Check(n); err != nil {
				checkErrs = append(checkErrs, fmt.Errorf("%s: %w", n, err))
			}
		}
	}
	if len(unsupported) > 0 {
		return nil, unsupportedError(unsupported)
	}
	if len(checkErrs) > 0 {
		return nil, fmt.Errorf("native: invalid graph: %w", errors.Join(checkErrs...))
	}
	threads := o.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if threads > 0 {
		e.sem = make(chan struct{}, threads)
	}
	return e, nil
}

// unsupportedError formats "unsupported ops: Foo (2 nodes: a/b, c/d), Bar
// (1 node: e)", most used op first, listing at most five node names per op.
func unsupportedError(m map[string][]string) error {
	ops := make([]string, 0, len(m))
	for op := range m {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if len(m[ops[i]]) != len(m[ops[j]]) {
			return len(m[ops[i]]) > len(m[ops[j]])
		}
		return ops[i] < ops[j]
	})
	var b strings.Builder
	b.WriteString("native: unsupported ops: ")
	for k, op := range ops {
		if k > 0 {
			b.WriteString(", ")
		}
		names := m[op]
		noun := "nodes"
		if len(names) == 1 {
			noun = "node"
		}
		shown := names
		if len(shown) > 5 {
			shown = shown[:5]
		}
		fmt.Fprintf(&b, "%s (%d %s: %s", op, len(names), noun, strings.Join(shown, ", "))
		if len(names) > len(shown) {
			fmt.Fprintf(&b, ", … %d more", len(names)-len(shown))
		}
		b.WriteString(")")
	}
	return errors.New(b.String())
}

// Name returns "native".
func (e *Engine) Name() string { return "native" }

// Graph returns the graph the Engine executes.
func (e *Engine) Graph() *graph.Graph { return e.g }

// Close marks the Engine closed; later calls fail. It also drops the
// buffers kept for reuse between runs (at most 1 GiB).
func (e *Engine) Close() error {
	e.closed.Store(true)
	e.bufs.drain()
	return nil
}

// acquire waits for a run slot; the returned function frees it.
func (e *Engine) acquire(ctx context.Context) (func(), error) {
	if e.closed.Load() {
		return nil, errors.New("native: engine is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.sem == nil {
		return func() {}, nil
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Engine) slot(ep graph.Endpoint) int { return e.off[ep.Node.ID] + ep.Index }

// Run computes the fetched tensors from the feeds. Fetches may name any
// tensor of the graph; feeds may name Placeholders or intermediate tensors
// (the graph is cut there).
func (e *Engine) Run(ctx context.Context, feeds map[string]*tensor.Tensor, fetches []string) ([]*tensor.Tensor, error) {
	done, err := e.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("native: run: %w", err)
	}
	defer done()
	fed, err := e.resolveFeeds(feeds)
	if err != nil {
		return nil, err
	}
	outs, err := e.resolveAll("fetch", fetches)
	if err != nil {
		return nil, err
	}
	p, err := e.newPlan(fed, outs, len(outs))
	if err != nil {
		return nil, err
	}
	r := e.newRun(p)
	if err := r.forward(ctx, nil, engine.ReluNormal); err != nil {
		return nil, err
	}
	res := make([]*tensor.Tensor, len(outs))
	seen := make(map[int]bool, len(outs))
	for i, ep := range outs {
		s := e.slot(ep)
		res[i] = r.owned(s, seen[s])
		seen[s] = true
	}
	return res, nil
}

// resolveAll resolves tensor names, naming what they are for in errors.
func (e *Engine) resolveAll(what string, names []string) ([]graph.Endpoint, error) {
	eps := make([]graph.Endpoint, len(names))
	for i, name := range names {
		ep, err := e.g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("native: %s %q: %w", what, name, err)
		}
		eps[i] = ep
	}
	return eps, nil
}

// resolveFeeds resolves and validates the feeds.
func (e *Engine) resolveFeeds(feeds map[string]*tensor.Tensor) (map[graph.Endpoint]*tensor.Tensor, error) {
	fed := make(map[graph.Endpoint]*tensor.Tensor, len(feeds))
	byEP := make(map[graph.Endpoint]string, len(feeds))
	names := make([]string, 0, len(feeds))
	for name := range feeds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := feeds[name]
		ep, err := e.g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("native: feed %q: %w", name, err)
		}
		if prev, dup := byEP[ep]; dup {
			return nil, fmt.Errorf("native: feeds %q and %q name the same tensor", prev, name)
		}
		byEP[ep] = name
		if t == nil {
			return nil, fmt.Errorf("native: feed %q is nil", name)
		}
		if err := checkTensor(t); err != nil {
			return nil, fmt.Errorf("native: feed %q: %w", name, err)
		}
		if err := checkFeed(ep, t); err != nil {
			return nil, fmt.Errorf("native: feed %q: %w", name, err)
		}
		fed[ep] = t
	}
	return fed, nil
}

// checkFeed compares a fed tensor with what the graph declares for that
// endpoint: a Placeholder's dtype and shape attributes, or the statically
// inferred output shape of an intermediate node.
func checkFeed(ep graph.Endpoint, t *tensor.Tensor) error {
	n := ep.Node
	var want []int
	what := "tensor " + ep.String()
	if n.Op == "Placeholder" && ep.Index == 0 {
		what = "placeholder " + n.Name
		if n.HasAttr("dtype") {
			dt, err := n.AttrType("dtype")
			if err == nil && dt != t.DType {
				return fmt.Errorf("%s has dtype %v, got a %v tensor", what, dt, t.DType)
			}
		}
		if n.HasAttr("shape") {
			if s, err := n.AttrShape("shape"); err == nil {
				want = s
			}
		}
	} else if n.Value != nil && ep.Index == 0 && n.Value.DType != t.DType {
		return fmt.Errorf("%s has dtype %v, got a %v tensor", what, n.Value.DType, t.DType)
	}
	if want == nil && ep.Index < len(n.OutShapes) {
		want = n.OutShapes[ep.Index]
	}
	if want == nil {
		return nil
	}
	if len(want) != len(t.Shape) {
		return fmt.Errorf("%s expects shape %s (rank %d), got shape %s", what, tensor.ShapeString(want), len(want), tensor.ShapeString(t.Shape))
	}
	for i, d := range want {
		if d >= 0 && t.Shape[i] != d {
			hint := ""
			if i == len(want)-1 && len(want) == 4 {
				hint = " (channels)"
			}
			return fmt.Errorf("%s expects shape %s, got shape %s: dimension %d%s is %d, want %d", what, tensor.ShapeString(want), tensor.ShapeString(t.Shape), i, hint, t.Shape[i], d)
		}
	}
	return nil
}

// checkTensor verifies that a tensor from outside (a feed, a seed, a graph
// constant) is well formed: a known dtype, a valid shape, and a data slice
// of the right length.
func checkTensor(t *tensor.Tensor) error {
	if err := tensor.CheckShape(t.Shape); err != nil {
		return err
	}
	n := tensor.NumElements(t.Shape)
	var have int
	switch t.DType {
	case tensor.Float32:
		have = len(t.F32)
	case tensor.Float64:
		have = len(t.F64)
	case tensor.Int32:
		have = len(t.I32)
	case tensor.Int64:
		have = len(t.I64)
	case tensor.Bool:
		have = len(t.B)
	case tensor.String:
		have = len(t.Str)
	case tensor.Uint8:
		have = len(t.U8)
	default:
		return fmt.Errorf("invalid dtype %v", t.DType)
	}
	if have != n {
		return fmt.Errorf("%v tensor of shape %s holds %d values, want %d", t.DType, tensor.ShapeString(t.Shape), have, n)
	}
	return nil
}

// placeholderDesc describes a Placeholder's declared dtype and shape for
// the missing-feed error.
func placeholderDesc(n *graph.Node) string {
	var parts []string
	if n.HasAttr("dtype") {
		if dt, err := n.AttrType("dtype"); err == nil {
			parts = append(parts, dt.String())
		}
	}
	if n.HasAttr("shape") {
		if s, err := n.AttrShape("shape"); err == nil && s != nil {
			parts = append(parts, "shape "+tensor.ShapeString(s))
		}
	}
	if len(parts) == 0 {
		return n.Name
	}
	return n.Name + " (" + strings.Join(parts, ", ") + ")"
}
