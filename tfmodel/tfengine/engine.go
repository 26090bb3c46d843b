//go:build tensorflow

package tfengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	tf "github.com/wamuir/graft/tensorflow"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Engine executes a tbviz graph with TensorFlow's runtime. It implements
// engine.Engine and is safe for concurrent use.
//
// Run uses one session over the whole lowered graph. Each distinct
// gradient request shape (fed tensors and their dtypes, targets, fetches,
// wrt, rectifier rule) gets its own graph and session, built on first use
// and cached until Close: the graph lowered with the feeds cut into
// Placeholders, one Placeholder per target for the seeds, the gradient
// subgraph from Graph.AddGradients and, for the guided and deconvnet
// rules, the RewriteReluGrads rewrite. A gradient request runs two steps
// on that session: the forward step (targets, fetches, and the wrt tensors
// that get no gradient, for their shapes), then, with the seeds computed
// in Go, the gradient step (which recomputes the forward pass).
type Engine struct {
	g      *graph.Graph
	opts   Options
	config []byte
	prog   *Program
	graph  *tf.Graph
	sess   *tf.Session

	mu     sync.Mutex
	grads  map[string]*gradEntry
	closed atomic.Bool
}

var _ engine.Engine = (*Engine)(nil)

// gradEntry is a cached gradient graph, built once.
type gradEntry struct {
	once sync.Once
	gp   *gradProgram
	err  error
}

// gradProgram is a gradient graph with its session.
type gradProgram struct {
	prog  *Program
	graph *tf.Graph
	sess  *tf.Session
	// seeds are the seed Placeholders, by target index.
	seeds []tf.Output
	// grads are the gradient outputs by wrt index; reach tells which wrt
	// tensors get one (the others get zeros).
	grads []tf.Output
	reach []bool
}

// Version returns the version of the linked TensorFlow library.
func Version() string { return tf.Version() }

// ListDevices returns the devices a TensorFlow session sees with opts
// (nil: defaults).
func ListDevices(opts *Options) ([]Device, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	cfg, err := sessionConfig(o)
	if err != nil {
		return nil, err
	}
	s, err := tf.NewSession(tf.NewGraph(), &tf.SessionOptions{Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("tfengine: new session: %w", err)
	}
	defer s.Close()
	return listDevices(s)
}

func listDevices(s *tf.Session) ([]Device, error) {
	ds, err := s.ListDevices()
	if err != nil {
		return nil, fmt.Errorf("tfengine: list devices: %w", err)
	}
	out := make([]Device, len(ds))
	for i, d := range ds {
		out[i] = Device{Name: d.Name, Type: d.Type, MemoryLimitBytes: d.MemoryLimitBytes}
	}
	return out, nil
}

// New lowers g (see Lower), imports it into a TensorFlow graph and opens a
// session. opts may be nil.
func New(g *graph.Graph, opts *Options) (*Engine, error) {
	if g == nil {
		return nil, errors.New("tfengine: nil graph")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	dev, err := NormalizeDevice(o.Device)
	if err != nil {
		return nil, fmt.Errorf("tfengine: %w", err)
	}
	o.Device = dev
	cfg, err := sessionConfig(o)
	if err != nil {
		return nil, err
	}
	e := &Engine{g: g, opts: o, config: cfg, grads: map[string]*gradEntry{}}
	e.prog, err = Lower(g, LowerOptions{Device: o.Device})
	if err != nil {
		return nil, err
	}
	e.graph, e.sess, err = e.open(e.prog.GraphDef)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// open imports gd into a new graph and opens a session on it.
func (e *Engine) open(gd *graphpb.GraphDef) (*tf.Graph, *tf.Session, error) {
	b, err := proto.Marshal(gd)
	if err != nil {
		return nil, nil, fmt.Errorf("tfengine: marshal GraphDef: %w", err)
	}
	tg := tf.NewGraph()
	if err := tg.Import(b, ""); err != nil {
		return nil, nil, fmt.Errorf("tfengine: TensorFlow rejected the lowered graph: %w", err)
	}
	s, err := tf.NewSession(tg, &tf.SessionOptions{Config: e.config})
	if err != nil {
		return nil, nil, fmt.Errorf("tfengine: new session: %w", err)
	}
	return tg, s, nil
}

// Name returns "tensorflow".
func (e *Engine) Name() string { return "tensorflow" }

// Devices returns the devices the engine's session sees.
func (e *Engine) Devices() ([]Device, error) {
	if e.closed.Load() {
		return nil, errors.New("tfengine: engine is closed")
	}
	return listDevices(e.sess)
}

// Placement returns the device requested for every op ("" when TensorFlow
// chooses); set Options.LogDevicePlacement to see where TensorFlow put
// each op.
func (e *Engine) Placement() string { return e.opts.Device }

// Close closes every session; it waits for running steps to finish.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	var errs []error
	e.mu.Lock()
	for _, ent := range e.grads {
		if ent.gp != nil {
			errs = append(errs, ent.gp.sess.Close())
		}
	}
	e.grads = nil
	e.mu.Unlock()
	errs = append(errs, e.sess.Close())
	return errors.Join(errs...)
}

// output finds a GraphDef tensor name in tg.
func output(tg *tf.Graph, name string) (tf.Output, error) {
	nm, k := SplitTensor(name)
	op := tg.Operation(nm)
	if op == nil {
		return tf.Output{}, fmt.Errorf("no operation %q in the TensorFlow graph", nm)
	}
	if k >= op.NumOutputs() {
		return tf.Output{}, fmt.Errorf("operation %q has %d outputs, no output %d", nm, op.NumOutputs(), k)
	}
	return op.Output(k), nil
}

// resolve maps tbviz tensor names to outputs of tg.
func resolve(p *Program, tg *tf.Graph, what string, names []string) ([]tf.Output, error) {
	outs := make([]tf.Output, len(names))
	for i, name := range names {
		t, err := p.Tensor(name)
		if err != nil {
			return nil, fmt.Errorf("tfengine: %s %q: %w", what, name, err)
		}
		o, err := output(tg, t)
		if err != nil {
			return nil, fmt.Errorf("tfengine: %s %q: %w", what, name, err)
		}
		outs[i] = o
	}
	return outs, nil
}

// feedMap converts the feeds to TensorFlow tensors keyed by tg's outputs.
func feedMap(p *Program, tg *tf.Graph, feeds map[string]*tensor.Tensor) (map[tf.Output]*tf.Tensor, error) {
	names := make([]string, 0, len(feeds))
	for name := range feeds {
		names = append(names, name)
	}
	sort.Strings(names)
	m := make(map[tf.Output]*tf.Tensor, len(feeds))
	seen := map[string]string{} // TensorFlow tensor → feed name
	for _, name := range names {
		o, err := resolve(p, tg, "feed", []string{name})
		if err != nil {
			return nil, err
		}
		id := outputID(o[0])
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("tfengine: feeds %q and %q name the same tensor", prev, name)
		}
		seen[id] = name
		t := feeds[name]
		if t == nil {
			return nil, fmt.Errorf("tfengine: feed %q is nil", name)
		}
		if want := o[0].DataType(); want != tf.DataType(tensor.ProtoDType(t.DType)) {
			return nil, fmt.Errorf("tfengine: feed %q: the graph holds %v there, got a %v tensor", name, typespb.DataType(want), t.DType)
		}
		tt, err := toTF(t)
		if err != nil {
			return nil, fmt.Errorf("tfengine: feed %q: %w", name, err)
		}
		m[o[0]] = tt
	}
	return m, nil
}

// toTF copies a tensor into a TensorFlow tensor.
func toTF(t *tensor.Tensor) (*tf.Tensor, error) {
	if err := tensor.CheckShape(t.Shape); err != nil {
		return nil, err
	}
	if t.DType == tensor.String {
		return nil, errors.New("string tensors are not supported by the tensorflow engine")
	}
	dt := tensor.ProtoDType(t.DType)
	if dt == typespb.DataType_DT_INVALID {
		return nil, fmt.Errorf("dtype %v has no TensorFlow equivalent", t.DType)
	}
	p := t.Proto()
	shape := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	return tf.ReadTensor(tf.DataType(dt), shape, bytes.NewReader(p.GetTensorContent()))
}

// fromTF copies a TensorFlow tensor into a new tensor.
func fromTF(t *tf.Tensor) (*tensor.Tensor, error) {
	dt, err := tensor.FromProtoDType(typespb.DataType(t.DataType()))
	if err != nil {
		return nil, err
	}
	if dt == tensor.String {
		return nil, errors.New("string tensors are not supported by the tensorflow engine")
	}
	shape := make([]int, len(t.Shape()))
	for i, d := range t.Shape() {
		shape[i] = int(d)
	}
	if err := tensor.CheckShape(shape); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := t.WriteContentsTo(&buf); err != nil {
		return nil, err
	}
	return tensor.FromBytes(dt, shape, buf.Bytes())
}

// outputID names an output; tf.Output values for the same tensor may hold
// different *Operation pointers, so they cannot be compared directly.
func outputID(o tf.Output) string { return o.Op.Name() + ":" + strconv.Itoa(o.Index) }

// run executes one step and converts the results.
func run(ctx context.Context, s *tf.Session, feeds map[tf.Output]*tf.Tensor, fetches []tf.Output) ([]*tensor.Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Fetch each distinct output once; duplicates get copies.
	uniq := map[string]int{}
	var list []tf.Output
	for _, o := range fetches {
		if _, ok := uniq[outputID(o)]; !ok {
			uniq[outputID(o)] = len(list)
			list = append(list, o)
		}
	}
	res, err := s.Run(feeds, list, nil)
	if err != nil {
		return nil, err
	}
	conv := make([]*tensor.Tensor, len(res))
	for i, r := range res {
		if conv[i], err = fromTF(r); err != nil {
			return nil, fmt.Errorf("result %s:%d: %w", list[i].Op.Name(), list[i].Index, err)
		}
	}
	out := make([]*tensor.Tensor, len(fetches))
	used := make([]bool, len(conv))
	for i, o := range fetches {
		k := uniq[outputID(o)]
		if used[k] {
			out[i] = conv[k].Clone()
		} else {
			out[i] = conv[k]
			used[k] = true
		}
	}
	return out, ctx.Err()
}

// Run computes the fetched tensors from the feeds. Feeds may name
// Placeholders or intermediate tensors. A step already started in
// TensorFlow runs to completion even if ctx is cancelled; the call then
// returns ctx's error.
func (e *Engine) Run(ctx context.Context, feeds map[string]*tensor.Tensor, fetches []string) ([]*tensor.Tensor, error) {
	if e.closed.Load() {
		return nil, errors.New("tfengine: run: engine is closed")
	}
	fm, err := feedMap(e.prog, e.graph, feeds)
	if err != nil {
		return nil, err
	}
	outs, err := resolve(e.prog, e.graph, "fetch", fetches)
	if err != nil {
		return nil, err
	}
	res, err := run(ctx, e.sess, fm, outs)
	if err != nil {
		return nil, fmt.Errorf("tfengine: run: %w", err)
	}
	return res, nil
}

// gradKey identifies a gradient graph.
func gradKey(req engine.GradRequest) string {
	var b strings.Builder
	feeds := make([]string, 0, len(req.Feeds))
	for name, t := range req.Feeds {
		dt := "nil"
		if t != nil {
			dt = t.DType.String()
		}
		feeds = append(feeds, name+"="+dt)
	}
	sort.Strings(feeds)
	for _, part := range [][]string{feeds, req.Targets, req.Fetches, req.Wrt} {
		for _, s := range part {
			b.WriteString(strconv.Quote(s))
			b.WriteByte(',')
		}
		b.WriteByte('|')
	}
	b.WriteString(req.Relu.String())
	return b.String()
}

// gradPrefix names the gradient subgraph's nodes.
const gradPrefix = "tbviz_gradients"

// gradProgram returns the cached gradient graph for req, building it on
// first use.
func (e *Engine) gradProgram(req engine.GradRequest) (*gradProgram, error) {
	key := gradKey(req)
	e.mu.Lock()
	if e.grads == nil {
		e.mu.Unlock()
		return nil, errors.New("tfengine: engine is closed")
	}
	ent := e.grads[key]
	if ent == nil {
		ent = &gradEntry{}
		e.grads[key] = ent
	}
	e.mu.Unlock()
	ent.once.Do(func() { ent.gp, ent.err = e.buildGrad(req) })
	return ent.gp, ent.err
}

func (e *Engine) buildGrad(req engine.GradRequest) (*gradProgram, error) {
	lo := LowerOptions{Device: e.opts.Device, Feeds: map[string]tensor.DType{}}
	for name, t := range req.Feeds {
		if t == nil {
			return nil, fmt.Errorf("tfengine: feed %q is nil", name)
		}
		lo.Feeds[name] = t.DType
	}
	lo.Outputs = append(append(append([]string(nil), req.Targets...), req.Fetches...), req.Wrt...)
	p, err := Lower(e.g, lo)
	if err != nil {
		return nil, err
	}
	// A first import tells the dtypes, for the reachability walk.
	tg, err := importGraph(p.GraphDef)
	if err != nil {
		return nil, err
	}
	targets := make([]string, len(req.Targets))
	for i, name := range req.Targets {
		if targets[i], err = p.Tensor(name); err != nil {
			return nil, fmt.Errorf("tfengine: target %q: %w", name, err)
		}
	}
	wrt := make([]string, len(req.Wrt))
	for i, name := range req.Wrt {
		if wrt[i], err = p.Tensor(name); err != nil {
			return nil, fmt.Errorf("tfengine: wrt %q: %w", name, err)
		}
	}
	differentiable := func(t string) bool {
		o, err := output(tg, t)
		if err != nil {
			return false
		}
		switch o.DataType() {
		case tf.Float, tf.Double, tf.Half, tf.Bfloat16:
			return true
		}
		return false
	}
	reach, err := Reachable(p.GraphDef, targets, wrt, differentiable)
	if err != nil {
		return nil, fmt.Errorf("tfengine: gradients: %w", err)
	}
	ys, err := resolve(p, tg, "target", req.Targets)
	if err != nil {
		return nil, err
	}
	var xs []tf.Output
	for i, name := range req.Wrt {
		if reach[i] {
			o, err := resolve(p, tg, "wrt", []string{name})
			if err != nil {
				return nil, err
			}
			xs = append(xs, o[0])
		}
	}
	seedNames := make([]string, len(ys))
	var gradNames []string
	if len(xs) > 0 {
		seeds := make([]tf.Output, len(ys))
		for i, y := range ys {
			seedNames[i] = gradPrefix + "_seeds/" + strconv.Itoa(i)
			op, err := tg.AddOperation(tf.OpSpec{
				Type:   "Placeholder",
				Name:   seedNames[i],
				Attrs:  map[string]interface{}{"dtype": y.DataType()},
				Device: e.opts.Device,
			})
			if err != nil {
				return nil, fmt.Errorf("tfengine: seed placeholder for target %q: %w", req.Targets[i], err)
			}
			seeds[i] = op.Output(0)
		}
		dxs, err := tg.AddGradients(gradPrefix, ys, xs, seeds)
		if err != nil {
			return nil, fmt.Errorf("tfengine: TensorFlow could not build the gradients of %q with respect to %q: %w", req.Targets, req.Wrt, err)
		}
		for _, d := range dxs {
			gradNames = append(gradNames, d.Op.Name()+":"+strconv.Itoa(d.Index))
		}
	}
	var buf bytes.Buffer
	if _, err := tg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("tfengine: export the gradient graph: %w", err)
	}
	full := &graphpb.GraphDef{}
	if err := proto.Unmarshal(buf.Bytes(), full); err != nil {
		return nil, fmt.Errorf("tfengine: read back the gradient graph: %w", err)
	}
	if len(xs) > 0 {
		if _, err := RewriteReluGrads(full, gradPrefix, req.Relu); err != nil {
			return nil, err
		}
	}
	if e.opts.Device != "" {
		for _, n := range full.GetNode() {
			n.Device = e.opts.Device
		}
	}
	g2, s2, err := e.open(full)
	if err != nil {
		return nil, err
	}
	gp := &gradProgram{prog: p, graph: g2, sess: s2, reach: reach}
	for _, name := range seedNames {
		if name == "" {
			continue
		}
		o, err := output(g2, name)
		if err != nil {
			s2.Close()
			return nil, fmt.Errorf("tfengine: seed: %w", err)
		}
		gp.seeds = append(gp.seeds, o)
	}
	for _, name := range gradNames {
		o, err := output(g2, name)
		if err != nil {
			s2.Close()
			return nil, fmt.Errorf("tfengine: gradient: %w", err)
		}
		gp.grads = append(gp.grads, o)
	}
	return gp, nil
}

func importGraph(gd *graphpb.GraphDef) (*tf.Graph, error) {
	b, err := proto.Marshal(gd)
	if err != nil {
		return nil, fmt.Errorf("tfengine: marshal GraphDef: %w", err)
	}
	tg := tf.NewGraph()
	if err := tg.Import(b, ""); err != nil {
		return nil, fmt.Errorf("tfengine: TensorFlow rejected the lowered graph: %w", err)
	}
	return tg, nil
}

// Gradients runs a forward and a backward pass (see Engine for how).
func (e *Engine) Gradients(ctx context.Context, req engine.GradRequest) (*engine.GradResult, error) {
	if e.closed.Load() {
		return nil, errors.New("tfengine: gradients: engine is closed")
	}
	if len(req.Targets) == 0 {
		return nil, errors.New("tfengine: gradients: no targets")
	}
	if req.Seed == nil {
		return nil, errors.New("tfengine: gradients: no Seed function")
	}
	gp, err := e.gradProgram(req)
	if err != nil {
		return nil, err
	}
	fm, err := feedMap(gp.prog, gp.graph, req.Feeds)
	if err != nil {
		return nil, err
	}
	// Forward step: targets, fetches, and the wrt tensors without a
	// gradient (for the zeros' shapes).
	names := append(append([]string(nil), req.Targets...), req.Fetches...)
	var zeroIdx []int
	for i, ok := range gp.reach {
		if !ok {
			names = append(names, req.Wrt[i])
			zeroIdx = append(zeroIdx, i)
		}
	}
	outs, err := resolve(gp.prog, gp.graph, "tensor", names)
	if err != nil {
		return nil, err
	}
	vals, err := run(ctx, gp.sess, fm, outs)
	if err != nil {
		return nil, fmt.Errorf("tfengine: gradients: forward step: %w", err)
	}
	res := &engine.GradResult{Values: map[string]*tensor.Tensor{}, Grads: map[string]*tensor.Tensor{}}
	nv := len(req.Targets) + len(req.Fetches)
	for i, name := range names[:nv] {
		if _, dup := res.Values[name]; !dup {
			res.Values[name] = vals[i]
		}
	}
	for k, i := range zeroIdx {
		v := vals[nv+k]
		if !v.DType.IsFloat() {
			return nil, fmt.Errorf("tfengine: gradients: wrt %q is a %v tensor, not floating point", req.Wrt[i], v.DType)
		}
		res.Grads[req.Wrt[i]] = tensor.NewLike(v)
	}
	if len(gp.grads) == 0 {
		return res, nil
	}
	view := make(map[string]*tensor.Tensor, len(res.Values))
	for k, v := range res.Values {
		view[k] = v.Clone()
	}
	seeds, err := req.Seed(view)
	if err != nil {
		return nil, fmt.Errorf("tfengine: gradients: seed: %w", err)
	}
	for name := range seeds {
		if !contains(req.Targets, name) {
			return nil, fmt.Errorf("tfengine: gradients: seed for %q, which is not a target", name)
		}
	}
	for i, name := range req.Targets {
		v := res.Values[name]
		s := seeds[name]
		if s == nil {
			s = tensor.NewLike(v)
		} else if s.DType != v.DType || !tensor.SameShape(s.Shape, v.Shape) {
			return nil, fmt.Errorf("tfengine: gradients: seed for %q is %v %s, the target is %v %s", name, s.DType, tensor.ShapeString(s.Shape), v.DType, tensor.ShapeString(v.Shape))
		}
		st, err := toTF(s)
		if err != nil {
			return nil, fmt.Errorf("tfengine: gradients: seed for %q: %w", name, err)
		}
		fm[gp.seeds[i]] = st
	}
	gs, err := run(ctx, gp.sess, fm, gp.grads)
	if err != nil {
		return nil, fmt.Errorf("tfengine: gradients: backward step: %w", err)
	}
	k := 0
	for i, ok := range gp.reach {
		if ok {
			if _, dup := res.Grads[req.Wrt[i]]; !dup {
				res.Grads[req.Wrt[i]] = gs[k]
			}
			k++
		}
	}
	return res, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
