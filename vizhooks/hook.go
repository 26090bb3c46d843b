package vizhooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/vizhooks/explain"
)

// Policy says what Hook.AfterStep does when the hook's queue is full.
type Policy uint8

const (
	// Skip drops the step (counted by Hook.Dropped): the training loop is
	// never blocked. It is the zero value.
	Skip Policy = iota
	// Block waits for a free queue slot (or for AfterStep's context), so
	// no step is lost.
	Block
)

// String returns "skip" or "block".
func (p Policy) String() string {
	if p == Block {
		return "block"
	}
	return "skip"
}

// HookConfig configures a Hook. The zero value is not enough on its own:
// set a Logdir (or Writer) and Images; everything else has a default.
type HookConfig struct {
	// Logdir is where the hook writes a new event file. Ignored when
	// Writer is set.
	Logdir string
	// Writer, when set, receives the summaries instead of a new event file
	// under Logdir. The hook flushes it on Close but does not close it.
	Writer *tbwriter.Writer
	// Images are the image files explained at every visualised step.
	Images []string
	// Explain selects the methods, layer, classes, input range and so on
	// (see package explain); its Step is set to each step.
	Explain explain.Config
	// Every visualises only the steps divisible by Every; 0 or 1 means
	// every step passed to AfterStep.
	Every int64
	// QueueSize is the number of steps that may wait for a worker; 0 means 1.
	QueueSize int
	// Policy is what AfterStep does when the queue is full (default Skip).
	Policy Policy
	// Graph is the SavedModel directory whose graph checkpoint sources are
	// loaded into (see tfmodel.LoadCheckpoint). Needed only for checkpoint
	// sources; it is loaded once, on first use.
	Graph string
	// Load configures loading SavedModel sources and Graph (nil: defaults).
	Load *tfmodel.LoadOptions
	// Workers is the number of steps visualised at the same time; 0 means 1.
	Workers int
	// NewEngine builds the engine for each visualised model; nil means the
	// native engine with default options.
	NewEngine func(g *graph.Graph) (engine.Engine, error)
}

// maxKeptErrors bounds the errors a Hook keeps; later ones are counted.
const maxKeptErrors = 100

// Hook visualises a model from inside a Go training loop or serving
// process. AfterStep hands a step's model to background workers through a
// bounded queue and returns at once (Policy Skip) or when the queue has
// room (Policy Block); the workers run package explain on HookConfig.Images
// and write to TensorBoard. Errors of the background work are reported by
// Err and Close. A Hook is safe for concurrent use.
type Hook struct {
	cfg    HookConfig
	w      *tbwriter.Writer
	ownW   bool
	jobs   chan job
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.RWMutex // held for reading while sending on jobs, for writing by Close
	closed   bool
	closeErr error // set once by close, read after closeOnce

	dropped   atomic.Int64
	processed atomic.Int64
	lastStep  atomic.Int64 // the highest step passed on or dropped
	closeOnce sync.Once

	errMu    sync.Mutex
	errs     []error
	errExtra int
	dropList []int64

	graphOnce  sync.Once
	graphModel *tfmodel.Model
	graphErr   error
}

// job is one queued step: a snapshot of a model or a path to load.
type job struct {
	step  int64
	model *tfmodel.Model // snapshot, or nil
	path  string
	ckpt  bool
}

// NewHook checks cfg, opens the event file and starts the workers.
func NewHook(cfg HookConfig) (*Hook, error) {
	if len(cfg.Images) == 0 {
		return nil, errors.New("vizhooks: HookConfig.Images is empty; give the image files to explain at each step")
	}
	for _, p := range cfg.Images {
		if st, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("vizhooks: image %w", err)
		} else if st.IsDir() {
			return nil, fmt.Errorf("vizhooks: image %s is a directory, expected an image file", p)
		}
	}
	if cfg.Every < 0 {
		return nil, fmt.Errorf("vizhooks: HookConfig.Every is %d, want >= 0", cfg.Every)
	}
	if cfg.QueueSize < 0 || cfg.Workers < 0 {
		return nil, fmt.Errorf("vizhooks: HookConfig.QueueSize %d and Workers %d must be >= 0", cfg.QueueSize, cfg.Workers)
	}
	if cfg.Policy != Skip && cfg.Policy != Block {
		return nil, fmt.Errorf("vizhooks: unknown HookConfig.Policy %d", cfg.Policy)
	}
	if cfg.Graph != "" {
		if _, err := os.Stat(cfg.Graph); err != nil {
			return nil, fmt.Errorf("vizhooks: HookConfig.Graph: %w", err)
		}
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 1
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.Every == 0 {
		cfg.Every = 1
	}
	h := &Hook{cfg: cfg, w: cfg.Writer, jobs: make(chan job, cfg.QueueSize)}
	if h.w == nil {
		if cfg.Logdir == "" {
			return nil, errors.New("vizhooks: set HookConfig.Logdir or HookConfig.Writer")
		}
		w, err := tbwriter.NewWriter(cfg.Logdir, nil)
		if err != nil {
			return nil, fmt.Errorf("vizhooks: %w", err)
		}
		h.w, h.ownW = w, true
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		h.wg.Add(1)
		go h.worker()
	}
	return h, nil
}

// AfterStep queues step for visualisation when it is one of every
// HookConfig.Every steps. source is one of:
//
//   - a *tfmodel.Model, e.g. the model being trained, whose checkpoint-bound
//     variables (Model.Variables) are copied before AfterStep returns, so
//     the training loop may go on updating them; everything else of the
//     model must stay unchanged;
//   - a string naming a checkpoint prefix (prefix.index exists), whose
//     weights are loaded into HookConfig.Graph's graph;
//   - a string naming a SavedModel or TF.js model directory.
//
// Files are read by the workers, so a checkpoint must still exist when its
// turn comes. ctx bounds only the wait for a queue slot under Policy
// Block; the visualisation itself runs after AfterStep returns, and Close
// waits for it. AfterStep returns an error for a source it cannot use (of
// another type, a path that does not exist, a checkpoint without
// HookConfig.Graph), after Close, or when ctx ends while blocked; dropping
// a step under Policy Skip is not an error.
func (h *Hook) AfterStep(ctx context.Context, step int64, source any) error {
	if step%h.cfg.Every != 0 {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return fmt.Errorf("vizhooks: step %d: hook is closed", step)
	}
	for {
		last := h.lastStep.Load()
		if step <= last || h.lastStep.CompareAndSwap(last, step) {
			break
		}
	}
	j := job{step: step}
	switch s := source.(type) {
	case *tfmodel.Model:
		if s == nil || s.Graph == nil {
			return fmt.Errorf("vizhooks: step %d: nil model", step)
		}
		if h.cfg.Policy == Skip && len(h.jobs) == cap(h.jobs) {
			h.drop(step) // save the copy when the step would be dropped anyway
			return nil
		}
		j.model = Snapshot(s)
	case string:
		if s == "" {
			return fmt.Errorf("vizhooks: step %d: empty source path", step)
		}
		j.path = s
		if _, err := os.Stat(s + ".index"); err == nil {
			j.ckpt = true
			if h.cfg.Graph == "" {
				return fmt.Errorf("vizhooks: step %d: %s is a checkpoint; set HookConfig.Graph to the SavedModel whose graph it fits", step, s)
			}
		} else if st, err := os.Stat(s); err != nil || !st.IsDir() {
			return fmt.Errorf("vizhooks: step %d: source %s is neither a checkpoint prefix (no %s.index) nor a model directory", step, s, s)
		}
	default:
		return fmt.Errorf("vizhooks: step %d: source of type %T; want a *tfmodel.Model, a checkpoint prefix or a model directory", step, source)
	}
	if h.cfg.Policy == Block {
		select {
		case h.jobs <- j:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("vizhooks: step %d: waiting for the queue: %w", step, ctx.Err())
		}
	}
	select {
	case h.jobs <- j:
	default:
		h.drop(step)
	}
	return nil
}

// Snapshot returns a copy of m whose checkpoint-bound variables have their
// own copies of the values, taken now: later in-place updates of m's
// variables (an optimizer step) do not reach it. Constants are shared.
func Snapshot(m *tfmodel.Model) *tfmodel.Model {
	c := *m
	c.Graph = m.Graph.Clone()
	for _, n := range c.Graph.Nodes {
		if n.VarKey != "" && n.Value != nil {
			n.Value = n.Value.Clone()
		}
	}
	c.Variables = append([]tfmodel.VariableInfo(nil), m.Variables...)
	return &c
}

func (h *Hook) drop(step int64) {
	h.dropped.Add(1)
	h.errMu.Lock()
	if len(h.dropList) < maxKeptErrors {
		h.dropList = append(h.dropList, step)
	}
	h.errMu.Unlock()
}

func (h *Hook) worker() {
	defer h.wg.Done()
	for j := range h.jobs {
		if err := h.run(j); err != nil {
			h.fail(fmt.Errorf("vizhooks: step %d: %w", j.step, err))
		}
		h.processed.Add(1)
	}
}

func (h *Hook) fail(err error) {
	h.errMu.Lock()
	defer h.errMu.Unlock()
	if len(h.errs) < maxKeptErrors {
		h.errs = append(h.errs, err)
	} else {
		h.errExtra++
	}
}

// run visualises one queued step.
func (h *Hook) run(j job) error {
	m := j.model
	var err error
	switch {
	case m != nil:
	case j.ckpt:
		base, err := h.graph()
		if err != nil {
			return err
		}
		if m, err = tfmodel.LoadCheckpoint(base, j.path); err != nil {
			return err
		}
	default:
		if m, err = tfmodel.Load(j.path, h.cfg.Load); err != nil {
			return err
		}
	}
	newEngine := h.cfg.NewEngine
	if newEngine == nil {
		newEngine = func(g *graph.Graph) (engine.Engine, error) { return native.New(g, nil) }
	}
	eng, err := newEngine(m.Graph)
	if err != nil {
		return err
	}
	defer eng.Close()
	ec := h.cfg.Explain
	ec.Step = j.step
	res, err := explain.Run(h.ctx, m, eng, h.cfg.Images, h.w, ec)
	if res != nil {
		for _, e := range res.Errors {
			h.fail(fmt.Errorf("vizhooks: step %d: %w", j.step, e))
		}
	}
	if err != nil {
		return err
	}
	return h.w.Scalar("hook/dropped", j.step, float64(h.dropped.Load()))
}

// graph loads HookConfig.Graph once.
func (h *Hook) graph() (*tfmodel.Model, error) {
	h.graphOnce.Do(func() {
		h.graphModel, h.graphErr = tfmodel.Load(h.cfg.Graph, h.cfg.Load)
		if h.graphErr != nil {
			h.graphErr = fmt.Errorf("HookConfig.Graph: %w", h.graphErr)
		}
	})
	return h.graphModel, h.graphErr
}

// Dropped returns the number of steps dropped so far because the queue
// was full (Policy Skip).
func (h *Hook) Dropped() int64 { return h.dropped.Load() }

// Processed returns the number of steps the workers have finished so far,
// successfully or not.
func (h *Hook) Processed() int64 { return h.processed.Load() }

// Err returns the errors of the background work so far, joined (nil if
// none). It does not wait for queued steps.
func (h *Hook) Err() error {
	h.errMu.Lock()
	defer h.errMu.Unlock()
	return h.joinedLocked()
}

func (h *Hook) joinedLocked() error {
	errs := append([]error(nil), h.errs...)
	if h.errExtra > 0 {
		errs = append(errs, fmt.Errorf("vizhooks: and %d more errors", h.errExtra))
	}
	return errors.Join(errs...)
}

// Close stops accepting steps, waits for the queued ones, writes a text
// summary ("hook/summary": steps visualised, steps dropped) and flushes
// the writer, closing it when the hook opened it. It returns every error
// of the background work and of closing, joined. Later calls return the
// same result.
func (h *Hook) Close() error {
	h.closeOnce.Do(h.close)
	return h.closeErr
}

func (h *Hook) close() {
	h.mu.Lock()
	h.closed = true
	close(h.jobs)
	h.mu.Unlock()
	h.wg.Wait()
	h.cancel()

	h.errMu.Lock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d steps visualised, %d dropped (policy %s, queue %d, every %d)",
		h.processed.Load(), h.dropped.Load(), h.cfg.Policy, h.cfg.QueueSize, h.cfg.Every)
	if len(h.dropList) > 0 {
		steps := append([]int64(nil), h.dropList...)
		sort.Slice(steps, func(i, k int) bool { return steps[i] < steps[k] })
		s := make([]string, len(steps))
		for i, st := range steps {
			s[i] = fmt.Sprint(st)
		}
		fmt.Fprintf(&b, "\n\ndropped steps: %s", strings.Join(s, ", "))
		if n := h.dropped.Load(); n > int64(len(steps)) {
			fmt.Fprintf(&b, " and %d more", n-int64(len(steps)))
		}
	}
	nerr := len(h.errs) + h.errExtra
	if nerr > 0 {
		fmt.Fprintf(&b, "\n\n%d errors; first: %s", nerr, h.errs[0])
	}
	errs := []error{h.joinedLocked()}
	h.errMu.Unlock()

	if err := h.w.Text("hook/summary", h.lastStep.Load(), b.String()); err != nil {
		errs = append(errs, fmt.Errorf("vizhooks: %w", err))
	}
	if h.ownW {
		if err := h.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("vizhooks: close %s: %w", filepath.Base(h.w.Path()), err))
		}
	} else if err := h.w.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("vizhooks: flush: %w", err))
	}
	h.closeErr = errors.Join(errs...)
}
