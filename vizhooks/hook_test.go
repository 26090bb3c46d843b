package vizhooks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/bundle"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks"
	"github.com/tbviz/tbviz/vizhooks/explain"
)

// fixture extracts the embedded CIFAR-10 example, loads it and writes
// two small images ("probe" and "probe2": 32x32, the model's size, which
// keeps the tests fast under -race).
func fixture(t *testing.T) (*tfmodel.Model, string, []string) {
	t.Helper()
	dir, _, _, err := cifar10.Extract(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for k, name := range []string{"probe", "probe2"} {
		img := image.NewRGBA(image.Rect(0, 0, 32, 32))
		for y := range 32 {
			for x := range 32 {
				img.Set(x, y, color.RGBA{uint8(8 * x), uint8(8 * y), uint8(100 * k), 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), name+".png")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		images = append(images, p)
	}
	return m, dir, images
}

// outputBias returns the output layer's bias node value (shape [10]).
func outputBias(t *testing.T, m *tfmodel.Model) *tensor.Tensor {
	t.Helper()
	for _, v := range m.Variables {
		if len(v.Shape) == 1 && v.Shape[0] == 10 {
			return m.Graph.Node(v.Node).Value
		}
	}
	t.Fatal("no output bias")
	return nil
}

var classNames = []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"}

// summaryTarget returns the target label in the explain summary text of
// one step ("| probe | c3 (0.999) | ...").
func summaryTargets(t *testing.T, run *tbwriter.Run) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, v := range run.Series("summary") {
		for _, line := range strings.Split(v.Text, "\n") {
			cells := strings.Split(line, "|")
			if len(cells) > 3 && strings.TrimSpace(cells[1]) == "probe" {
				out[v.Step] = strings.Fields(cells[2])[0]
			}
		}
	}
	return out
}

// TestHookSkipFastProducer runs a fast "training loop" that rewrites the
// output bias in place at every step, so that the model's top class is
// step%10, and hands the model to the hook at every step with a queue of
// one. Most steps are dropped; every step that is written must show the
// class of its own step, which fails if the hook's snapshot shared the
// weights with the loop (and -race reports the data race).
func TestHookSkipFastProducer(t *testing.T) {
	m, _, images := fixture(t)
	logdir := t.TempDir()
	h, err := vizhooks.NewHook(vizhooks.HookConfig{
		Logdir:  logdir,
		Images:  images[:1],
		Explain: explain.Config{Labels: classNames, Class: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	bias := outputBias(t, m)
	const steps = 300
	ctx := context.Background()
	for step := range int64(steps) {
		for c := range bias.F32 {
			bias.F32[c] = 0
		}
		bias.F32[step%10] = 1000
		if err := h.AfterStep(ctx, step, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if h.Dropped() == 0 {
		t.Errorf("no step dropped with a queue of one and %d fast steps", steps)
	}
	if got := h.Dropped() + h.Processed(); got != steps {
		t.Errorf("dropped %d + processed %d = %d, want %d", h.Dropped(), h.Processed(), got, steps)
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.Problems) > 0 {
		t.Fatalf("logdir problems: %v", ld.Problems)
	}
	run := ld.Run(".")
	targets := summaryTargets(t, run)
	if int64(len(targets)) != h.Processed() {
		t.Errorf("%d steps in the logdir, %d processed", len(targets), h.Processed())
	}
	for step, label := range targets {
		if want := classNames[step%10]; label != want {
			t.Errorf("step %d explains %s, want %s (the snapshot saw another step's weights)", step, label, want)
		}
	}
	if s := run.Series("gradcam/sequential/conv2d_2/Relu/probe"); int64(len(s)) != h.Processed() {
		t.Errorf("%d Grad-CAM panels, want %d", len(s), h.Processed())
	}
	sum := run.Series("hook/summary")
	if len(sum) != 1 || !strings.Contains(sum[0].Text, fmt.Sprintf("%d steps visualised, %d dropped", h.Processed(), h.Dropped())) ||
		!strings.Contains(sum[0].Text, "dropped steps: ") || sum[0].Step != steps-1 {
		t.Errorf("hook/summary = %+v", sum)
	}
	if len(run.Series("hook/dropped")) != int(h.Processed()) {
		t.Errorf("hook/dropped scalars: %d", len(run.Series("hook/dropped")))
	}
	// The model the loop owns was not touched by the hook.
	if bias.F32[(steps-1)%10] != 1000 {
		t.Errorf("the hook changed the training model")
	}
}

// TestHookBlockEvery checks that Policy Block loses no step and that Every
// selects the steps.
func TestHookBlockEvery(t *testing.T) {
	m, _, images := fixture(t)
	logdir := t.TempDir()
	w, err := tbwriter.NewWriter(logdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h, err := vizhooks.NewHook(vizhooks.HookConfig{
		Writer: w, Images: images, Every: 3, Policy: vizhooks.Block, QueueSize: 1, Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	for step := range int64(10) {
		if err := h.AfterStep(context.Background(), step, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if h.Dropped() != 0 || h.Processed() != 4 {
		t.Errorf("dropped %d, processed %d; want 0 and 4 (steps 0, 3, 6, 9)", h.Dropped(), h.Processed())
	}
	// The hook flushed but did not close a writer it was given.
	if err := w.Scalar("after", 1, 1); err != nil {
		t.Errorf("writer unusable after Close: %v", err)
	}
	w.Flush()
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, v := range ld.Run(".").Series("summary") {
		steps = append(steps, v.Step)
	}
	if fmt.Sprint(sortInts(steps)) != "[0 3 6 9]" {
		t.Errorf("summary steps %v, want [0 3 6 9]", steps)
	}
	for _, img := range []string{"probe", "probe2"} {
		if n := len(ld.Run(".").Series("prob/" + img)); n != 4 {
			t.Errorf("prob/%s: %d values, want 4", img, n)
		}
	}
}

func sortInts(s []int64) []int64 {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestHookPathSources visualises a checkpoint prefix (weights into the
// Graph model) and a SavedModel directory, and reports a bad checkpoint
// through Err and Close.
func TestHookPathSources(t *testing.T) {
	m, dir, images := fixture(t)
	ckdir := t.TempDir()
	// A checkpoint whose output bias makes class 7 the top-1.
	ts := map[string]*tensor.Tensor{"save_counter/.ATTRIBUTES/VARIABLE_VALUE": {DType: tensor.Int64, Shape: []int{}, I64: []int64{1}}}
	bad := map[string]*tensor.Tensor{}
	for _, v := range m.Variables {
		val := m.Graph.Node(v.Node).Value
		if len(v.Shape) == 1 && v.Shape[0] == 10 {
			val = tensor.New(tensor.Float32, 10)
			val.F32[7] = 1000
			bad["model/"+v.Key] = tensor.New(tensor.Float32, 11)
		} else {
			bad["model/"+v.Key] = val
		}
		ts["model/"+v.Key] = val
	}
	good := filepath.Join(ckdir, "ckpt-1")
	broken := filepath.Join(ckdir, "ckpt-2")
	if err := bundle.Write(good, ts); err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(broken, bad); err != nil {
		t.Fatal(err)
	}
	logdir := t.TempDir()
	h, err := vizhooks.NewHook(vizhooks.HookConfig{
		Logdir: logdir, Images: images[:1], Graph: dir, Policy: vizhooks.Block,
		Explain: explain.Config{Labels: classNames, Class: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		step int64
		src  string
	}{{10, good}, {20, dir}, {30, broken}} {
		if err := h.AfterStep(ctx, c.step, c.src); err != nil {
			t.Fatal(err)
		}
	}
	err = h.Close()
	if err == nil || !strings.Contains(err.Error(), "step 30") || !strings.Contains(err.Error(), "float32 (11,)") {
		t.Fatalf("Close = %v, want the step-30 shape mismatch", err)
	}
	if e := h.Err(); e == nil || !strings.Contains(e.Error(), "step 30") {
		t.Errorf("Err() = %v, want the step-30 error", e)
	}
	if err2 := h.Close(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close = %v, want the same error", err2)
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	targets := summaryTargets(t, ld.Run("."))
	if targets[10] != "c7" {
		t.Errorf("checkpoint step explains %q, want c7 (the checkpoint's weights)", targets[10])
	}
	if targets[20] == "" || targets[20] == "c7" && outputBias(t, m).F32[7] < 1 {
		t.Errorf("SavedModel step: target %q", targets[20])
	}
	if _, ok := targets[30]; ok {
		t.Errorf("the broken checkpoint's step was written")
	}
	if sum := ld.Run(".").Series("hook/summary"); len(sum) != 1 || !strings.Contains(sum[0].Text, "1 errors; first: vizhooks: step 30") {
		t.Errorf("hook/summary = %+v", sum)
	}
}

func TestHookErrors(t *testing.T) {
	m, dir, images := fixture(t)
	logdir := t.TempDir()
	for _, c := range []struct {
		cfg  vizhooks.HookConfig
		want string
	}{
		{vizhooks.HookConfig{Logdir: logdir}, "Images is empty"},
		{vizhooks.HookConfig{Logdir: logdir, Images: []string{filepath.Join(logdir, "nope.png")}}, "nope.png"},
		{vizhooks.HookConfig{Logdir: logdir, Images: []string{logdir}}, "is a directory"},
		{vizhooks.HookConfig{Images: images}, "set HookConfig.Logdir or HookConfig.Writer"},
		{vizhooks.HookConfig{Logdir: logdir, Images: images, Every: -1}, "Every is -1"},
		{vizhooks.HookConfig{Logdir: logdir, Images: images, QueueSize: -2}, "QueueSize -2"},
		{vizhooks.HookConfig{Logdir: logdir, Images: images, Policy: 9}, "unknown HookConfig.Policy 9"},
		{vizhooks.HookConfig{Logdir: logdir, Images: images, Graph: filepath.Join(logdir, "g")}, "HookConfig.Graph"},
	} {
		_, err := vizhooks.NewHook(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewHook(%+v) = %v, want an error mentioning %q", c.cfg, err, c.want)
		}
	}

	h, err := vizhooks.NewHook(vizhooks.HookConfig{Logdir: logdir, Images: images[:1], Policy: vizhooks.Block})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ckpt := filepath.Join(t.TempDir(), "ckpt-1")
	if err := bundle.Write(ckpt, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{1}, 1)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  any
		want string
	}{
		{42, "source of type int"},
		{"", "empty source path"},
		{filepath.Join(dir, "absent"), "neither a checkpoint prefix"},
		{ckpt, "set HookConfig.Graph"},
		{(*tfmodel.Model)(nil), "nil model"},
	} {
		if err := h.AfterStep(ctx, 1, c.src); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AfterStep(%v) = %v, want an error mentioning %q", c.src, err, c.want)
		}
	}
	// A full queue under Block waits for the context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	var blocked error
	for step := int64(0); step < 5 && blocked == nil; step++ {
		blocked = h.AfterStep(cctx, step, m)
	}
	if blocked == nil || !errors.Is(blocked, context.Canceled) {
		t.Errorf("AfterStep on a full queue with a cancelled context = %v", blocked)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.AfterStep(ctx, 100, m); err == nil || !strings.Contains(err.Error(), "hook is closed") {
		t.Errorf("AfterStep after Close = %v", err)
	}
}

// TestSnapshot checks that a snapshot's variables are copies and the rest
// is shared.
func TestSnapshot(t *testing.T) {
	m, _, _ := fixture(t)
	s := vizhooks.Snapshot(m)
	for _, v := range m.Variables {
		a, b := m.Graph.Node(v.Node), s.Graph.Node(v.Node)
		if a == b || a.Value == b.Value || a.Value.F32[0] != b.Value.F32[0] {
			t.Fatalf("variable %s not copied", v.Node)
		}
	}
	bias := outputBias(t, m)
	old := bias.F32[0]
	bias.F32[0] += 5
	if outputBias(t, s).F32[0] != old {
		t.Errorf("snapshot follows the model's updates")
	}
}
