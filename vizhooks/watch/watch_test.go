package watch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/vizhooks/watch"
)

// fixture is the embedded example SavedModel, extracted once.
var fixture struct {
	once  sync.Once
	model string
	image string
	err   error
}

func exampleModel(t testing.TB) (model, image string) {
	fixture.once.Do(func() {
		dir, err := os.MkdirTemp("", "tbviz-watch-fixture-")
		if err != nil {
			fixture.err = err
			return
		}
		var imgs []string
		fixture.model, imgs, _, fixture.err = cifar10.Extract(dir)
		if fixture.err == nil {
			fixture.image = imgs[0]
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.model, fixture.image
}

func TestMain(m *testing.M) {
	if os.Getenv("TBVIZ_WATCH_HELPER") != "" {
		os.Exit(helperMain())
	}
	code := m.Run()
	if fixture.model != "" {
		os.RemoveAll(filepath.Dir(fixture.model))
	}
	os.Exit(code)
}

// copyDir copies the directory tree src to dst (created).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		return copyFile(p, out)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// export copies the example model into dir/rel the way a trainer writes
// an export: in place, file by file.
func export(t testing.TB, dir, rel string) string {
	t.Helper()
	model, _ := exampleModel(t)
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	copyDir(t, model, dst)
	return dst
}

// loadProc loads each item with tfmodel.Load (so a half-read or corrupt
// export fails) and writes the scalar "step" (the step) and the text
// "item" (the item's path) at the item's step.
func loadProc(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
	if _, err := tfmodel.Load(it.Path, nil); err != nil {
		return err
	}
	if err := w.Scalar("step", it.Step, float64(it.Step)); err != nil {
		return err
	}
	return w.Text("item", it.Step, it.Rel)
}

// stepsPerTag reads the logdir and returns, for each tag of the root run,
// its steps in file order.
func stepsPerTag(t testing.TB, logdir string) map[string][]int64 {
	t.Helper()
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ld.Problems {
		t.Errorf("logdir problem: %v", p)
	}
	out := map[string][]int64{}
	for _, r := range ld.Runs {
		if r.Name != "." {
			t.Errorf("unexpected run %q", r.Name)
		}
		for _, v := range r.Values {
			out[v.Tag] = append(out[v.Tag], v.Step)
			if v.Kind == tbwriter.KindScalar && v.Scalar != float64(v.Step) {
				t.Errorf("%s at step %d has value %g", v.Tag, v.Step, v.Scalar)
			}
		}
	}
	return out
}

// checkSteps asserts that every tag has exactly the steps want, once each.
func checkSteps(t testing.TB, logdir string, tags []string, want ...int64) {
	t.Helper()
	got := stepsPerTag(t, logdir)
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	for _, tag := range tags {
		s := append([]int64(nil), got[tag]...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		if fmt.Sprint(s) != fmt.Sprint(want) {
			t.Errorf("tag %s: steps %v, want %v once each", tag, s, want)
		}
	}
	if len(got) != len(tags) {
		t.Errorf("tags %v, want %v", keys(got), tags)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// events collects the reports of a watch run.
type events struct {
	mu  sync.Mutex
	all []watch.Event
	ch  chan watch.Event
}

func newEvents() *events { return &events{ch: make(chan watch.Event, 1000)} }

func (e *events) on(ev watch.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

func (e *events) with(s watch.Status) []watch.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []watch.Event
	for _, ev := range e.all {
		if ev.Status == s {
			out = append(out, ev)
		}
	}
	return out
}

// wait returns the next event with status s for rel, failing after 20 s.
func (e *events) wait(t *testing.T, rel string, s watch.Status) watch.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Item.Rel == rel && ev.Status == s {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event for %s within 20 s; events: %+v", s, rel, e.all)
		}
	}
}

func TestStepFromName(t *testing.T) {
	for _, c := range []struct {
		rel  string
		step int64
		ok   bool
	}{
		{"ckpt-1200", 1200, true},
		{"train/model.ckpt-1200", 1200, true},
		{"runs/step_1200", 1200, true},
		{"runs/step_1200/saved_model", 1200, true},
		{"epoch_05", 5, true},
		{"EPOCH-7", 7, true},
		{"export/1699999999", 1699999999, true},
		{"global_step=42", 42, true},
		{"iter3", 3, true},
		{"training_2/cp-0005.ckpt", 5, true},
		{"weights.05", 5, true},
		{"export/1699999999/final", 1699999999, true},
		{"export/1699999999/step_3x", 3, true},
		{"saved_model", 0, false},
		{"model_final", 0, false},
		{"stepper/model", 0, false},
		{"ckpt-99999999999999999999", 0, false},
		{"step_12/ckpt-13", 13, true}, // innermost name first
	} {
		s, ok := watch.StepFromName(c.rel)
		if ok != c.ok || (ok && s != c.step) {
			t.Errorf("StepFromName(%q) = %d, %v; want %d, %v", c.rel, s, ok, c.step, c.ok)
		}
	}
}

// TestOnce: exports out of order, a duplicate of a step, a corrupt export
// and one that is incomplete (a missing shard) among good ones. The good
// ones are written once each at their steps, the corrupt one is retried
// then recorded as Failed, and a second run does nothing.
func TestOnce(t *testing.T) {
	root := t.TempDir()
	dir, logdir := filepath.Join(root, "train"), filepath.Join(root, "logs")
	for _, rel := range []string{"export/300", "export/100", "step_200"} {
		export(t, dir, rel)
	}
	export(t, dir, "again/step_100") // the same step as export/100
	bad := export(t, dir, "export/250")
	if err := os.WriteFile(filepath.Join(bad, "saved_model.pb"), []byte("not a protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	part := export(t, dir, "export/260")
	if err := os.Rename(filepath.Join(part, "variables", "variables.data-00000-of-00001"), filepath.Join(part, "variables", "variables.data-00000-of-00002")); err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	cfg := watch.Config{Dir: dir, Logdir: logdir, Once: true, Settle: 10 * time.Millisecond, Backoff: time.Millisecond, Retries: 2, Workers: 2, OnEvent: ev.on}
	err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(loadProc))
	if !errors.Is(err, watch.ErrItemsFailed) || !strings.Contains(err.Error(), "export/250") {
		t.Fatalf("Watch = %v, want ErrItemsFailed naming export/250", err)
	}
	checkSteps(t, logdir, []string{"step", "item"}, 100, 200, 300)
	if f := ev.with(watch.Failed); len(f) != 1 || f[0].Item.Rel != "export/250" || f[0].Attempt != 3 {
		t.Errorf("failed = %+v, want export/250 after 3 attempts", f)
	}
	if r := ev.with(watch.Retrying); len(r) != 2 {
		t.Errorf("retrying = %d events, want 2", len(r))
	}
	if d := ev.with(watch.Duplicate); len(d) != 1 || d[0].Item.Step != 100 {
		t.Errorf("duplicate = %+v, want one at step 100", d)
	}
	if in := ev.with(watch.Incomplete); len(in) != 1 || in[0].Item.Rel != "export/260" || !strings.Contains(in[0].Err.Error(), "variables.data-00001-of-00002") {
		t.Errorf("incomplete = %+v, want export/260 missing shard 1 of 2", in)
	}
	// A second run finds everything recorded: no new events, no error
	// (the failed item is not retried while unchanged).
	ev2 := newEvents()
	cfg.OnEvent = ev2.on
	if err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(loadProc)); err != nil {
		t.Fatal(err)
	}
	if n := len(ev2.with(watch.Started)); n != 0 {
		t.Errorf("second run started %d items, want 0: %+v", n, ev2.all)
	}
	checkSteps(t, logdir, []string{"step", "item"}, 100, 200, 300)
	// Fixing the corrupt export makes it an item again.
	model, _ := exampleModel(t)
	if err := copyFile(filepath.Join(model, "saved_model.pb"), filepath.Join(bad, "saved_model.pb")); err != nil {
		t.Fatal(err)
	}
	if err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(loadProc)); err != nil {
		t.Fatal(err)
	}
	checkSteps(t, logdir, []string{"step", "item"}, 100, 200, 250, 300)
}

// TestArrivals runs Watch live, with fsnotify and with polling, while
// exports arrive out of order, one written slowly in pieces, one deleted
// while processed, and a copy of an existing step.
func TestArrivals(t *testing.T) {
	for _, poll := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) { testArrivals(t, poll) })
	}
}

func testArrivals(t *testing.T, poll time.Duration) {
	root := t.TempDir()
	dir, logdir := filepath.Join(root, "train"), filepath.Join(root, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ev := newEvents()
	// The processor of export/400 blocks until the test deleted it.
	gate := make(chan struct{})
	proc := func(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
		if it.Rel == "export/400" {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return loadProc(ctx, it, w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	settle := 150 * time.Millisecond
	go func() {
		done <- watch.Watch(ctx, watch.Config{Dir: dir, Logdir: logdir, Poll: poll, Settle: settle, Backoff: 10 * time.Millisecond, OnEvent: ev.on}, watch.ProcessorFunc(proc))
	}()
	export(t, dir, "export/300")
	ev.wait(t, "export/300", watch.Done)
	export(t, dir, "export/100") // older than what was written
	ev.wait(t, "export/100", watch.Done)

	// Written slowly: saved_model.pb in pieces with pauses shorter than the
	// settle period; Load would fail on any prefix.
	model, _ := exampleModel(t)
	slow := filepath.Join(dir, "export", "200")
	copyDir(t, filepath.Join(model, "variables"), filepath.Join(slow, "variables"))
	pb, err := os.ReadFile(filepath.Join(model, "saved_model.pb"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(slow, "saved_model.pb"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pb); i += len(pb)/6 + 1 {
		if _, err := f.Write(pb[i:min(len(pb), i+len(pb)/6+1)]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(settle / 3)
	}
	f.Close()
	e := ev.wait(t, "export/200", watch.Done)
	if e.Attempt != 1 {
		t.Errorf("slow export processed at attempt %d, want 1 (read only once complete)", e.Attempt)
	}

	// Deleted while processed.
	gone := export(t, dir, "export/400")
	ev.wait(t, "export/400", watch.Started)
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	close(gate)
	ev.wait(t, "export/400", watch.Deleted)

	// A copy of step 100 under another name.
	export(t, dir, "copy/step_100")
	ev.wait(t, "copy/step_100", watch.Duplicate)
	export(t, dir, "export/500")
	ev.wait(t, "export/500", watch.Done)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkSteps(t, logdir, []string{"step", "item"}, 100, 200, 300, 500)
	// Publication order is arrival order: the event files sort so.
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	var order []int64
	for _, v := range ld.Run(".").Series("step") {
		order = append(order, v.Step)
	}
	if fmt.Sprint(order) != "[300 100 200 500]" {
		t.Errorf("file order of steps %v, want arrival order [300 100 200 500]", order)
	}
}

// TestCheckpointsAndSteps covers bare checkpoints (complete only with all
// shards; the CheckpointManager's "checkpoint" file and _temp directories
// ignored), the bundle step, the counter and StepRegex.
func TestCheckpointsAndSteps(t *testing.T) {
	root := t.TempDir()
	dir, logdir := filepath.Join(root, "train"), filepath.Join(root, "logs")
	model, _ := exampleModel(t)
	vars := filepath.Join(model, "variables", "variables")
	put := func(prefix string) {
		if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{".index", ".data-00000-of-00001"} {
			if err := copyFile(vars+ext, prefix+ext); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(filepath.Join(dir, "ckpts", "ckpt-7"))
	put(filepath.Join(dir, "ckpts", "ckpt-3"))
	put(filepath.Join(dir, "ckpts", "weights"))             // no step in the name: bundle
	put(filepath.Join(dir, "ckpts", "final"))               // no step at all: counter
	put(filepath.Join(dir, "ckpts", "ckpt-9_temp", "part")) // a TF temporary: ignored
	put(filepath.Join(dir, "runA", "snap-run12-x"))         // StepRegex
	if err := os.WriteFile(filepath.Join(dir, "ckpts", "checkpoint"), []byte(`model_checkpoint_path: "ckpt-7"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "half"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(vars+".index", filepath.Join(dir, "half", "ckpt-5.index")); err != nil {
		t.Fatal(err)
	}
	var got sync.Map
	proc := func(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
		if it.Kind != watch.Checkpoint {
			return fmt.Errorf("%s: kind %s", it.Rel, it.Kind)
		}
		got.Store(it.Rel, fmt.Sprintf("%d/%s", it.Step, it.StepSource))
		return w.Scalar("step", it.Step, float64(it.Step))
	}
	bundleStep := func(prefix string) (int64, bool, error) {
		if filepath.Base(prefix) == "weights" {
			return 40, true, nil
		}
		return 0, false, nil
	}
	ev := newEvents()
	cfg := watch.Config{Dir: dir, Logdir: logdir, Once: true, Checkpoints: true, Settle: 10 * time.Millisecond,
		StepRegex: `run(?P<step>\d+)`, BundleStep: bundleStep, OnEvent: ev.on}
	if err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(proc)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ckpts/ckpt-7": "7/name", "ckpts/ckpt-3": "3/name", "ckpts/weights": "40/bundle",
		"ckpts/final": "0/counter", "runA/snap-run12-x": "12/regex",
	}
	n := 0
	got.Range(func(k, v any) bool {
		n++
		if want[k.(string)] != v {
			t.Errorf("%s: step %v, want %s", k, v, want[k.(string)])
		}
		return true
	})
	if n != len(want) {
		t.Errorf("processed %d items, want %d", n, len(want))
	}
	if in := ev.with(watch.Incomplete); len(in) != 1 || in[0].Item.Rel != "half/ckpt-5" {
		t.Errorf("incomplete = %+v, want half/ckpt-5", in)
	}
	checkSteps(t, logdir, []string{"step"}, 0, 3, 7, 12, 40)
	// Without Checkpoints, checkpoints are not items.
	cfg.Checkpoints, cfg.Logdir = false, filepath.Join(root, "logs2")
	if err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(proc)); err != nil {
		t.Fatal(err)
	}
	if s := ev.with(watch.Started); len(s) != len(want) {
		t.Errorf("started %d, want %d (no checkpoint without Config.Checkpoints)", len(s), len(want))
	}
}

// TestEvery thins out by step distance and records the skipped items.
func TestEvery(t *testing.T) {
	root := t.TempDir()
	dir, logdir := filepath.Join(root, "train"), filepath.Join(root, "logs")
	for _, s := range []int{0, 300, 600, 900, 1200, 1500, 2400} {
		export(t, dir, fmt.Sprintf("step_%d", s))
	}
	ev := newEvents()
	cfg := watch.Config{Dir: dir, Logdir: logdir, Once: true, Settle: 10 * time.Millisecond, Every: 1000, OnEvent: ev.on}
	proc := func(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
		return w.Scalar("step", it.Step, float64(it.Step))
	}
	if err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(proc)); err != nil {
		t.Fatal(err)
	}
	checkSteps(t, logdir, []string{"step"}, 0, 1200, 2400)
	if s := ev.with(watch.Skipped); len(s) != 4 {
		t.Errorf("skipped %d, want 4", len(s))
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	proc := watch.ProcessorFunc(func(context.Context, watch.Item, *tbwriter.Writer) error { return nil })
	for _, c := range []struct {
		cfg  watch.Config
		want string
	}{
		{watch.Config{Logdir: dir}, "Dir is empty"},
		{watch.Config{Dir: dir}, "Logdir is empty"},
		{watch.Config{Dir: filepath.Join(dir, "nope"), Logdir: dir}, "nope"},
		{watch.Config{Dir: dir, Logdir: dir, StepRegex: `(a)(b)`}, "2 capture groups"},
		{watch.Config{Dir: dir, Logdir: dir, StepRegex: `(`}, "StepRegex"},
		{watch.Config{Dir: dir, Logdir: dir, Workers: 1000}, "Workers"},
		{watch.Config{Dir: dir, Logdir: dir, Run: "../x"}, "Run"},
		{watch.Config{Dir: dir, Logdir: dir, Settle: -1}, "negative"},
	} {
		err := watch.Watch(context.Background(), c.cfg, proc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	// A state file for another directory is refused, and so is a second
	// watcher on the same state file.
	other := t.TempDir()
	if err := watch.Watch(context.Background(), watch.Config{Dir: dir, Logdir: dir, Once: true}, proc); err != nil {
		t.Fatal(err)
	}
	err := watch.Watch(context.Background(), watch.Config{Dir: other, Logdir: dir, Once: true}, proc)
	if err == nil || !strings.Contains(err.Error(), "records directory") {
		t.Errorf("reused state: %v", err)
	}
	// The first watcher blocks in its processor while the second starts.
	export(t, dir, "export/1")
	ctx, cancel := context.WithCancel(context.Background())
	ev := newEvents()
	blocking := watch.ProcessorFunc(func(ctx context.Context, _ watch.Item, _ *tbwriter.Writer) error {
		<-ctx.Done()
		return ctx.Err()
	})
	started := make(chan error, 1)
	go func() {
		started <- watch.Watch(ctx, watch.Config{Dir: dir, Logdir: t.TempDir(), State: filepath.Join(dir, "st.json"), Settle: time.Millisecond, OnEvent: ev.on}, blocking)
	}()
	ev.wait(t, "export/1", watch.Started)
	err = watch.Watch(context.Background(), watch.Config{Dir: dir, Logdir: t.TempDir(), State: filepath.Join(dir, "st.json"), Once: true}, proc)
	if err == nil || !strings.Contains(err.Error(), "another tbviz watch") {
		t.Errorf("second watcher: %v, want a lock error", err)
	}
	cancel()
	ev.wait(t, "export/1", watch.Abandoned)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
}
