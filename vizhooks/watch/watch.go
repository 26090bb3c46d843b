package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel/bundle"
)

// Defaults for the zero Config.
const (
	DefaultSettle     = time.Second
	DefaultSafetyPoll = 30 * time.Second
	DefaultRetries    = 3
	DefaultBackoff    = time.Second
	// StateFile is the state file's name in the logdir when Config.State
	// is empty.
	StateFile = ".tbviz-watch.json"
)

// debounce is how long a burst of file system events is gathered before a
// scan.
const debounce = 50 * time.Millisecond

// Item is one SavedModel export or checkpoint to process.
type Item struct {
	// Path is the SavedModel directory or the checkpoint prefix (the
	// path of X for X.index).
	Path string
	// Rel is Path relative to Config.Dir, '/' separated: the item's name
	// in the state file and in reports.
	Rel  string
	Kind Kind
	// Step is the TensorBoard step to write the item's summaries at.
	Step       int64
	StepSource StepSource
}

// Processor computes and writes the summaries of one item. Process writes
// every value of the item into w at item.Step (w is a fresh writer whose
// file Watch publishes into the logdir once Process returns nil, and
// discards otherwise); Watch closes w. Process must return promptly, with
// an error, once ctx is cancelled. Processes of different items run
// concurrently (Config.Workers).
type Processor interface {
	Process(ctx context.Context, item Item, w *tbwriter.Writer) error
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, item Item, w *tbwriter.Writer) error

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, item Item, w *tbwriter.Writer) error {
	return f(ctx, item, w)
}

// What Watch reports in an Event besides the Statuses.
const (
	// Started: a worker took the item.
	Started Status = "started"
	// Retrying: processing failed; the item is tried again after a
	// backoff (Event.Err says why).
	Retrying Status = "retrying"
	// Deleted: the item vanished while waiting or being processed; it is
	// not recorded and is processed if it appears again.
	Deleted Status = "deleted"
	// Changed: the item's files changed while it was processed; its
	// results are discarded and it is processed again once stable.
	Changed Status = "changed"
	// Incomplete: the item's files stopped changing but some are missing
	// (Event.Err names them). Watch keeps waiting; with Config.Once it
	// gives up on the item (not recorded).
	Incomplete Status = "incomplete"
	// Abandoned: Watch was stopped while the item was processed; it is not
	// recorded and is processed on the next start.
	Abandoned Status = "abandoned"
)

// Event is a report of Watch about one item.
type Event struct {
	Item   Item
	Status Status
	// Err is the failure of Failed, Retrying, Incomplete, Deleted and the
	// reason of Skipped and Duplicate.
	Err error
	// Attempt counts the attempts so far (1 for the first).
	Attempt int
	// Duration is the processing time of Done, Failed and Retrying.
	Duration time.Duration
}

// Config configures Watch. Dir and Logdir are required; every other field
// has a useful zero value.
type Config struct {
	// Dir is the watched directory, searched recursively.
	Dir string
	// Logdir is the TensorBoard log directory; Run, when set, is a run
	// sub-directory of it that receives the events.
	Logdir, Run string
	// State is the state file (default Logdir/.tbviz-watch.json).
	State string
	// Poll, when positive, scans Dir at this interval instead of using
	// file system notifications (network file systems deliver none).
	// Zero uses fsnotify plus a scan every SafetyPoll.
	Poll time.Duration
	// SafetyPoll is the scan interval in fsnotify mode (default 30 s), in
	// case a notification is lost.
	SafetyPoll time.Duration
	// Settle is how long an item's files must stay unchanged (names,
	// sizes, modification times) before it is read (default 1 s).
	Settle time.Duration
	// StepRegex, when set, is matched against each item's path relative
	// to Dir ('/' separated); its group named "step", or its only capture
	// group, is the step. It takes precedence over the names.
	StepRegex string
	// BundleStep, when set, reads a step from a checkpoint bundle prefix
	// (a SavedModel's variables/variables or a checkpoint); it is asked
	// when neither StepRegex nor the names give a step. ok is false when
	// the bundle holds no step variable.
	BundleStep func(prefix string) (step int64, ok bool, err error)
	// Workers is the number of items processed at once (default 1).
	Workers int
	// Once processes the items that exist when Watch starts and returns.
	Once bool
	// Checkpoints includes bare TF checkpoints (X.index + X.data-*); the
	// Processor must pair them with a graph. Without it only SavedModels
	// are items.
	Checkpoints bool
	// Every, when above 1, thins items out: an item whose step is less
	// than Every away from a step already written (or being written) is
	// recorded as Skipped.
	Every int64
	// Retries is how often a failing item is tried again, with a backoff
	// doubling from Backoff, before it is recorded as Failed (default 3;
	// negative: never).
	Retries int
	// Backoff is the first retry delay (default 1 s).
	Backoff time.Duration
	// Writer configures the event writers (FlushInterval is ignored:
	// files are complete before they are published).
	Writer tbwriter.Options
	// OnEvent, when set, receives every report, from one goroutine.
	OnEvent func(Event)
}

// ErrItemsFailed is wrapped by the error of a Once run in which some item
// failed.
var ErrItemsFailed = errors.New("some items failed")

// Watch watches cfg.Dir and processes each complete, stable SavedModel
// (and, with cfg.Checkpoints, checkpoint) with proc, publishing its events
// into the logdir at the item's step and recording it in the state file.
// It runs until ctx is cancelled (then it abandons the items in progress,
// saves the state and returns nil) or, with cfg.Once, until the items
// present at the start are processed. See the package documentation for
// the guarantees.
func Watch(ctx context.Context, cfg Config, proc Processor) error {
	w, err := newWatcher(cfg, proc)
	if err != nil {
		return err
	}
	defer w.close()
	return w.loop(ctx)
}

// cand is the watcher's view of one candidate item.
type cand struct {
	c         *candidate
	fp        string    // fingerprint of the last look
	since     time.Time // when fp was first seen
	attempts  int
	notBefore time.Time
	queued    bool
	running   bool
	reported  string // fingerprint at which Incomplete was reported
	item      Item   // set when queued
	runFP     string // fingerprint when dispatched
}

type job struct {
	k   *cand
	dir string // scratch directory for the item's writer
}

type result struct {
	k   *cand
	dir string
	err error
	dur time.Duration
}

type watcher struct {
	cfg       Config
	proc      Processor
	re        *regexp.Regexp
	reGroup   int
	statePath string
	st        *state
	release   func()
	scratch   string
	runDir    string
	host      string

	fsw     *fsnotify.Watcher
	watched map[string]bool

	cands    map[string]*cand
	queue    []*cand
	claimed  map[int64]string // steps of queued and running items
	inflight int
	once     map[string]bool // Once: the items of the first scan
	scanned  bool
	failed   []string
	jobSeq   int
}

func newWatcher(cfg Config, proc Processor) (*watcher, error) {
	if cfg.Dir == "" {
		return nil, errors.New("watch: Config.Dir is empty: name the directory to watch")
	}
	if cfg.Logdir == "" {
		return nil, errors.New("watch: Config.Logdir is empty: name the TensorBoard logdir to write")
	}
	if proc == nil {
		return nil, errors.New("watch: nil Processor")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("watch: %s: %w", cfg.Dir, err)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("watch: %s is not a directory", cfg.Dir)
	}
	cfg.Dir = dir
	if cfg.Run != "" {
		local := filepath.FromSlash(cfg.Run)
		if !filepath.IsLocal(local) {
			return nil, fmt.Errorf("watch: Run %q must be a relative path inside the logdir", cfg.Run)
		}
	}
	if cfg.Poll < 0 || cfg.Settle < 0 || cfg.SafetyPoll < 0 || cfg.Backoff < 0 {
		return nil, fmt.Errorf("watch: negative duration in Config (Poll %v, Settle %v, SafetyPoll %v, Backoff %v)", cfg.Poll, cfg.Settle, cfg.SafetyPoll, cfg.Backoff)
	}
	if cfg.Workers < 0 || cfg.Workers > 256 {
		return nil, fmt.Errorf("watch: Workers is %d; want 0 (one) to 256", cfg.Workers)
	}
	if cfg.Every < 0 {
		return nil, fmt.Errorf("watch: Every is %d; want >= 0", cfg.Every)
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.SafetyPoll == 0 {
		cfg.SafetyPoll = DefaultSafetyPoll
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	} else if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	re, group, err := compileStepRegex(cfg.StepRegex)
	if err != nil {
		return nil, err
	}
	w := &watcher{cfg: cfg, proc: proc, re: re, reGroup: group, cands: map[string]*cand{}, claimed: map[int64]string{}, watched: map[string]bool{}}
	w.runDir = filepath.Join(cfg.Logdir, filepath.FromSlash(cfg.Run))
	if err := os.MkdirAll(w.runDir, 0o755); err != nil {
		return nil, fmt.Errorf("watch: logdir: %w", err)
	}
	w.statePath = cfg.State
	if w.statePath == "" {
		w.statePath = filepath.Join(cfg.Logdir, StateFile)
	}
	if w.release, err = lockFile(w.statePath + ".lock"); err != nil {
		return nil, err
	}
	if w.st, err = loadState(w.statePath, dir); err != nil {
		w.release()
		return nil, err
	}
	if err := w.recover(); err != nil {
		w.release()
		return nil, err
	}
	if w.scratch, err = os.MkdirTemp("", "tbviz-watch-"); err != nil {
		w.release()
		return nil, fmt.Errorf("watch: scratch directory: %w", err)
	}
	w.host, _ = os.Hostname()
	w.host = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == '.' {
			return '_'
		}
		return r
	}, w.host)
	if w.host == "" {
		w.host = "localhost"
	}
	if cfg.Poll == 0 {
		if w.fsw, err = fsnotify.NewWatcher(); err != nil {
			// No inotify (limits, platform): the safety poll does the work.
			w.fsw = nil
		}
	}
	return w, nil
}

func (w *watcher) close() {
	if w.fsw != nil {
		w.fsw.Close()
	}
	os.RemoveAll(w.scratch)
	w.release()
}

// recover resolves what a crash left: an item whose events were being
// published is Done when all its files made it and is forgotten (its
// files removed) otherwise; publication temporaries are removed.
func (w *watcher) recover() error {
	changed := false
	dirs := map[string]bool{w.runDir: true}
	for key, r := range w.st.Items {
		if r.Status != publishing {
			continue
		}
		all := true
		for _, f := range r.Files {
			p := filepath.Join(w.cfg.Logdir, filepath.FromSlash(f))
			dirs[filepath.Dir(p)] = true
			if _, err := os.Stat(p); err != nil {
				all = false
			}
		}
		if all {
			r.Status = Done
		} else {
			for _, f := range r.Files {
				os.Remove(filepath.Join(w.cfg.Logdir, filepath.FromSlash(f)))
			}
			delete(w.st.Items, key)
		}
		changed = true
	}
	for d := range dirs {
		tmps, _ := filepath.Glob(filepath.Join(d, ".tbviz-watch-*.tmp"))
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	if changed {
		return w.st.save(w.statePath)
	}
	return nil
}

func (w *watcher) report(e Event) {
	if w.cfg.OnEvent != nil {
		w.cfg.OnEvent(e)
	}
}

func (w *watcher) loop(ctx context.Context) error {
	jobs := make(chan job)
	results := make(chan result)
	for range w.cfg.Workers {
		go w.worker(ctx, jobs, results)
	}
	defer close(jobs)

	var fsEvents <-chan fsnotify.Event
	var fsErrors <-chan error
	if w.fsw != nil {
		fsEvents, fsErrors = w.fsw.Events, w.fsw.Errors
	}
	period := w.cfg.SafetyPoll
	if w.cfg.Poll > 0 {
		period = w.cfg.Poll
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	nextPeriodic := time.Now()
	var dirty time.Time // pending debounced scan, zero if none
	var fatal error
	for {
		if ctx.Err() != nil || fatal != nil {
			break
		}
		now := time.Now()
		if !now.Before(nextPeriodic) || (!dirty.IsZero() && !now.Before(dirty)) || w.dueCandidate(now) {
			if err := w.scan(now); err != nil {
				if !w.scanned {
					return err
				}
				w.report(Event{Status: Retrying, Err: err})
			}
			w.scanned = true
			nextPeriodic = now.Add(period)
			dirty = time.Time{}
		}
		if w.cfg.Once && w.scanned && len(w.cands) == 0 && w.inflight == 0 {
			break
		}
		wake := nextPeriodic
		if !dirty.IsZero() && dirty.Before(wake) {
			wake = dirty
		}
		if t, ok := w.nextDue(); ok && t.Before(wake) {
			wake = t
		}
		timer.Reset(max(time.Until(wake), time.Millisecond))
		var send chan job
		var head job
		if len(w.queue) > 0 {
			send = jobs
			w.jobSeq++
			head = job{k: w.queue[0], dir: filepath.Join(w.scratch, fmt.Sprint(w.jobSeq))}
		}
		select {
		case <-ctx.Done():
		case <-timer.C:
		case send <- head:
			w.queue = w.queue[1:]
			head.k.queued, head.k.running = false, true
			w.inflight++
			w.report(Event{Item: head.k.item, Status: Started, Attempt: head.k.attempts + 1})
		case r := <-results:
			w.inflight--
			if err := w.finish(ctx, r); err != nil {
				fatal = err
			}
		case ev, ok := <-fsEvents:
			if ok && (ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename)) {
				// The kernel dropped the watch of a removed directory; a
				// directory created under the same name needs a new one.
				delete(w.watched, ev.Name)
			}
			if ok && dirty.IsZero() && ev.Op != fsnotify.Chmod {
				dirty = time.Now().Add(debounce)
			}
		case <-fsErrors:
			// Lost events (queue overflow): rescan soon.
			if dirty.IsZero() {
				dirty = time.Now().Add(debounce)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	// Stopping: let the workers return (their context is cancelled, or
	// their items finish) and record what finished.
	for w.inflight > 0 {
		r := <-results
		w.inflight--
		if err := w.finish(ctx, r); err != nil && fatal == nil {
			fatal = err
		}
	}
	if err := w.st.save(w.statePath); err != nil && fatal == nil {
		fatal = err
	}
	if fatal != nil {
		return fatal
	}
	if w.cfg.Once && len(w.failed) > 0 {
		return fmt.Errorf("watch: %w: %s", ErrItemsFailed, strings.Join(w.failed, ", "))
	}
	return nil
}

// dueCandidate reports whether a waiting candidate may have become ready.
func (w *watcher) dueCandidate(now time.Time) bool {
	t, ok := w.nextDue()
	return ok && !now.Before(t)
}

// nextDue is the earliest time a waiting candidate's settle period or
// backoff ends.
func (w *watcher) nextDue() (time.Time, bool) {
	var best time.Time
	for _, k := range w.cands {
		if k.queued || k.running {
			continue
		}
		if k.reported == k.fp && !k.c.complete {
			continue // settled and incomplete: wait for a file event or the poll
		}
		t := k.since.Add(w.cfg.Settle)
		if k.notBefore.After(t) {
			t = k.notBefore
		}
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	return best, !best.IsZero()
}

// scan looks at Dir and queues the items that are complete and settled.
func (w *watcher) scan(now time.Time) error {
	var onDir func(string)
	if w.fsw != nil {
		onDir = func(d string) {
			if !w.watched[d] && w.fsw.Add(d) == nil {
				w.watched[d] = true
			}
		}
	}
	cs, dirs, err := scan(w.cfg.Dir, w.cfg.Checkpoints, onDir)
	if err != nil {
		return err
	}
	if w.fsw != nil {
		live := map[string]bool{}
		for _, d := range dirs {
			live[d] = true
		}
		for d := range w.watched {
			if !live[d] {
				delete(w.watched, d)
			}
		}
	}
	first := !w.scanned
	if first && w.cfg.Once {
		w.once = map[string]bool{}
	}
	seen := map[string]bool{}
	var ready []*cand
	for _, c := range cs {
		if w.once != nil {
			if first {
				w.once[c.rel] = true
			} else if !w.once[c.rel] {
				continue
			}
		}
		seen[c.rel] = true
		fp := c.fingerprint()
		if r := w.st.Items[c.rel]; r != nil && (r.Status != Failed || r.Fingerprint == fp) {
			delete(w.cands, c.rel)
			continue
		}
		k := w.cands[c.rel]
		if k == nil {
			k = &cand{fp: fp, since: now}
			w.cands[c.rel] = k
		} else if k.fp != fp {
			k.fp, k.since = fp, now
		}
		if k.queued || k.running {
			continue
		}
		k.c = c
		if now.Sub(k.since) < w.cfg.Settle || now.Before(k.notBefore) {
			continue
		}
		if !c.complete {
			if k.reported != fp {
				k.reported = fp
				w.report(Event{Item: Item{Path: c.path, Rel: c.rel, Kind: c.kind}, Status: Incomplete, Err: fmt.Errorf("%s: missing %s", c.rel, c.missing)})
			}
			if w.cfg.Once {
				delete(w.cands, c.rel)
				delete(w.once, c.rel)
			}
			continue
		}
		ready = append(ready, k)
	}
	for rel, k := range w.cands {
		if !seen[rel] && !k.running {
			if k.queued {
				w.unqueue(k)
			}
			delete(w.cands, rel)
		}
	}
	// Items settled in one scan are taken in step order (then by path).
	var items []*cand
	for _, k := range ready {
		k.item = w.itemOf(k.c)
		items = append(items, k)
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].item, items[j].item
		if a.StepSource == FromCounter || b.StepSource == FromCounter {
			return a.StepSource != FromCounter && b.StepSource == FromCounter
		}
		if a.Step != b.Step {
			return a.Step < b.Step
		}
		return a.Rel < b.Rel
	})
	for _, k := range items {
		if err := w.enqueue(k, now); err != nil {
			return err
		}
	}
	return nil
}

func (w *watcher) unqueue(k *cand) {
	for i, q := range w.queue {
		if q == k {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			break
		}
	}
	k.queued = false
	if w.claimed[k.item.Step] == k.c.rel {
		delete(w.claimed, k.item.Step)
	}
}

// itemOf resolves the step of a candidate: StepRegex, the names, the
// bundle, and the counter, in this order (the counter is assigned in
// enqueue).
func (w *watcher) itemOf(c *candidate) Item {
	it := Item{Path: c.path, Rel: c.rel, Kind: c.kind, StepSource: FromCounter}
	if s, ok := stepFromRegex(w.re, w.reGroup, c.rel); ok {
		it.Step, it.StepSource = s, FromRegex
	} else if s, ok := StepFromName(c.rel); ok {
		it.Step, it.StepSource = s, FromName
	} else if w.cfg.BundleStep != nil && c.prefix != "" {
		if s, ok, err := w.cfg.BundleStep(c.prefix); err == nil && ok && s >= 0 {
			it.Step, it.StepSource = s, FromBundle
		}
	}
	return it
}

// enqueue applies the duplicate and Every rules and queues k or records
// why not.
func (w *watcher) enqueue(k *cand, now time.Time) error {
	used := w.st.usedSteps()
	for s, rel := range w.claimed {
		used[s] = rel
	}
	it := &k.item
	if it.StepSource == FromCounter {
		var next int64
		for _, r := range w.st.Items {
			if r.StepSource == FromCounter && r.Step >= next {
				next = r.Step + 1
			}
		}
		for _, q := range w.cands {
			if (q.queued || q.running) && q.item.StepSource == FromCounter && q.item.Step >= next {
				next = q.item.Step + 1
			}
		}
		for used[next] != "" {
			next++
		}
		it.Step = next
	}
	var status Status
	var why error
	if rel, dup := used[it.Step]; dup {
		status, why = Duplicate, fmt.Errorf("step %d was already written from %s", it.Step, rel)
	} else if w.cfg.Every > 1 {
		for s, rel := range used {
			if d := s - it.Step; d < w.cfg.Every && d > -w.cfg.Every {
				status, why = Skipped, fmt.Errorf("step %d is within %d steps of step %d (%s)", it.Step, w.cfg.Every, s, rel)
				break
			}
		}
	}
	if status != "" {
		w.st.Items[it.Rel] = &record{Kind: it.Kind, Step: it.Step, StepSource: it.StepSource, Fingerprint: k.fp, Status: status, Error: why.Error(), Time: now}
		delete(w.cands, it.Rel)
		w.report(Event{Item: *it, Status: status, Err: why})
		return w.st.save(w.statePath)
	}
	k.queued = true
	k.runFP = k.fp
	w.claimed[it.Step] = it.Rel
	w.queue = append(w.queue, k)
	return nil
}

func (w *watcher) worker(ctx context.Context, jobs <-chan job, results chan<- result) {
	for j := range jobs {
		start := time.Now()
		err := w.run(ctx, j)
		results <- result{k: j.k, dir: j.dir, err: err, dur: time.Since(start)}
	}
}

// run checks the item's bundle and runs the Processor on a fresh writer
// in the job's scratch directory.
func (w *watcher) run(ctx context.Context, j job) error {
	if p := j.k.c.prefix; p != "" {
		r, err := bundle.Open(p)
		if err != nil {
			return err
		}
		r.Close()
	}
	opts := w.cfg.Writer
	opts.FlushInterval = -1
	tw, err := tbwriter.NewWriter(j.dir, &opts)
	if err != nil {
		return err
	}
	err = w.proc.Process(ctx, j.k.item, tw)
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	return err
}

// finish records a worker's result: publish and mark Done, or retry, or
// record Failed, or report Deleted, Changed or Abandoned.
func (w *watcher) finish(ctx context.Context, r result) error {
	k := r.k
	k.running = false
	defer os.RemoveAll(r.dir)
	if w.claimed[k.item.Step] == k.item.Rel {
		delete(w.claimed, k.item.Step)
	}
	k.attempts++
	ev := Event{Item: k.item, Attempt: k.attempts, Duration: r.dur, Err: r.err}
	now := time.Now()
	if ctx.Err() != nil {
		ev.Status, ev.Err = Abandoned, ctx.Err()
		w.report(ev)
		return nil
	}
	cur := restat(w.cfg.Dir, k.c)
	if cur == nil {
		delete(w.cands, k.item.Rel)
		ev.Status = Deleted
		if ev.Err == nil {
			ev.Err = fmt.Errorf("%s was deleted", k.item.Rel)
		}
		w.report(ev)
		return nil
	}
	if fp := cur.fingerprint(); fp != k.runFP {
		k.c, k.fp, k.since = cur, fp, now
		k.attempts--
		ev.Status = Changed
		w.report(ev)
		return nil
	}
	if r.err != nil {
		var perm permanentError
		if k.attempts > w.cfg.Retries || errors.As(r.err, &perm) {
			w.st.Items[k.item.Rel] = &record{Kind: k.item.Kind, Step: k.item.Step, StepSource: k.item.StepSource, Fingerprint: k.fp, Status: Failed, Error: r.err.Error(), Time: now}
			delete(w.cands, k.item.Rel)
			w.failed = append(w.failed, k.item.Rel)
			ev.Status = Failed
			w.report(ev)
			return w.st.save(w.statePath)
		}
		k.notBefore = now.Add(w.cfg.Backoff << (k.attempts - 1))
		ev.Status = Retrying
		w.report(ev)
		return nil
	}
	if err := w.publish(k, r.dir, now); err != nil {
		return err
	}
	delete(w.cands, k.item.Rel)
	ev.Status = Done
	w.report(ev)
	return nil
}

// restat looks at a candidate's files again; nil means it is gone.
func restat(root string, c *candidate) *candidate {
	switch c.kind {
	case SavedModel:
		names, err := fileNames(c.path)
		if err != nil || !(names["saved_model.pb"] || names["saved_model.pbtxt"]) {
			return nil
		}
		return savedModelCandidate(root, c.path, names)
	default:
		names, err := fileNames(filepath.Dir(c.path))
		if err != nil || !names[filepath.Base(c.path)+".index"] {
			return nil
		}
		return checkpointCandidate(root, c.path, names)
	}
}

func fileNames(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			names[e.Name()] = true
		}
	}
	return names, nil
}

// publish moves the event files of a finished item from its scratch
// directory into the run directory under names that sort after every
// earlier publication, recording the item as publishing before and Done
// after, so that a crash at any point leaves it either wholly published
// and Done (after recovery) or not published at all.
func (w *watcher) publish(k *cand, scratch string, now time.Time) error {
	var srcs, dsts, rels []string
	err := filepath.WalkDir(scratch, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !tbwriter.IsEventFile(d.Name()) {
			return err
		}
		sub, err := filepath.Rel(scratch, filepath.Dir(p))
		if err != nil {
			return err
		}
		w.st.Seq++
		name := fmt.Sprintf("events.out.tfevents.%010d.%s.watch-%09d", now.Unix(), w.host, w.st.Seq)
		dst := filepath.Join(w.runDir, sub, name)
		rel, err := filepath.Rel(w.cfg.Logdir, dst)
		if err != nil {
			return err
		}
		srcs, dsts, rels = append(srcs, p), append(dsts, dst), append(rels, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return fmt.Errorf("watch: publish %s: %w", k.item.Rel, err)
	}
	rec := &record{Kind: k.item.Kind, Step: k.item.Step, StepSource: k.item.StepSource, Fingerprint: k.fp, Status: publishing, Files: rels, Time: now}
	w.st.Items[k.item.Rel] = rec
	if err := w.st.save(w.statePath); err != nil {
		return err
	}
	for i, src := range srcs {
		if err := moveFile(src, dsts[i], w.st.Seq); err != nil {
			return fmt.Errorf("watch: publish %s: %w", k.item.Rel, err)
		}
	}
	rec.Status = Done
	return w.st.save(w.statePath)
}

// moveFile renames src to dst, or, across file systems, copies it to a
// temporary name in dst's directory (no "tfevents" in it, so TensorBoard
// ignores it), syncs, and renames that.
func moveFile(src, dst string, seq int64) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	err := os.Rename(src, dst)
	if err == nil {
		return syncDir(filepath.Dir(dst))
	}
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(le.Err, syscall.EXDEV) {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), fmt.Sprintf(".tbviz-watch-%d.tmp", seq))
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err, returned by a Processor, as one that retrying
// cannot fix (a checkpoint that does not match the graph, say): the item
// is recorded as Failed at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}
