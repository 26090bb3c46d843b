package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel/bundle"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// copyTree copies the directory src to dst.
func copyTree(t testing.TB, src, dst string) {
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
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, in); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// logdirSteps returns the sorted steps of every tag of the logdir's runs,
// keyed "run:tag".
func logdirSteps(t testing.TB, logdir string) map[string][]int64 {
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
		for _, v := range r.Values {
			out[r.Name+":"+v.Tag] = append(out[r.Name+":"+v.Tag], v.Step)
		}
	}
	for _, s := range out {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	}
	return out
}

// wantSteps asserts the tags of a logdir and that each has exactly the
// given steps, once.
func wantSteps(t testing.TB, got map[string][]int64, tags []string, steps []int64) {
	t.Helper()
	if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(tags) {
		t.Errorf("tags %v, want %v", sortedKeys(got), tags)
	}
	for _, tag := range tags {
		if fmt.Sprint(got[tag]) != fmt.Sprint(steps) {
			t.Errorf("%s: steps %v, want %v once each", tag, got[tag], steps)
		}
	}
}

// TestWatchOnce runs `tbviz watch --once` over two SavedModel exports and
// a checkpoint paired with --graph, and a checkpoint that does not match
// the graph (reported with the variable's name, the rest written).
func TestWatchOnce(t *testing.T) {
	dir := t.TempDir()
	model, images, labels, err := cifar10.Extract(filepath.Join(dir, "ex"))
	if err != nil {
		t.Fatal(err)
	}
	train := filepath.Join(dir, "train")
	copyTree(t, model, filepath.Join(train, "export", "1700000100"))
	// A checkpoint of the model's weights, as Keras save_weights writes.
	ck := filepath.Join(train, "ckpts")
	if err := os.MkdirAll(ck, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(filepath.Join(model, "variables", "variables"))
	if err != nil {
		t.Fatal(err)
	}
	good, bad := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for _, k := range r.Keys() {
		e, _ := r.Entry(k)
		if e.Slices != 0 {
			continue
		}
		v, err := r.Read(k)
		if err != nil {
			t.Fatal(err)
		}
		good[k], bad[k] = v, v
	}
	r.Close()
	// ckpt-8's first kernel has 16 filters where the graph has 32.
	const first = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
	if bad[first] == nil {
		t.Fatalf("no %s in the example's variables", first)
	}
	bad[first] = tensor.FromFloat32(make([]float32, 3*3*3*16), 3, 3, 3, 16)
	if err := bundle.Write(filepath.Join(ck, "ckpt-7"), good); err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(filepath.Join(ck, "ckpt-8"), bad); err != nil {
		t.Fatal(err)
	}
	logdir := filepath.Join(dir, "logs")
	out, err := runCLI(t, "watch", train, "--logdir", logdir, "--images", images[0], "--labels", labels, "--once", "--settle", "10ms",
		"--graph", model, "--workers", "2")
	if err == nil || !strings.Contains(err.Error(), "ckpts/ckpt-8") {
		t.Fatalf("watch --once: err %v, want one naming the failed ckpts/ckpt-8\n%s", err, out)
	}
	if !strings.Contains(out, "ckpts/ckpt-8 (checkpoint, step 8 from name): FAILED after 1 attempt(s)") || !strings.Contains(out, first) {
		t.Errorf("output does not report ckpt-8's mismatch with the variable's name:\n%s", out)
	}
	img := strings.TrimSuffix(filepath.Base(images[0]), filepath.Ext(images[0]))
	wantSteps(t, logdirSteps(t, logdir), []string{".:gradcam/sequential/conv2d_2/Relu/" + img, ".:prob/" + img, ".:summary"}, []int64{7, 1700000100})
}

// TestWatchHelperProcess is not a test: TestWatchSIGKILL runs the test
// binary with TBVIZ_WATCH_ARGS set to make it a tbviz process.
func TestWatchHelperProcess(t *testing.T) {
	args := os.Getenv("TBVIZ_WATCH_ARGS")
	if args == "" {
		t.Skip("helper process for TestWatchSIGKILL")
	}
	if err := newApp().Run(append([]string{"tbviz"}, strings.Split(args, "\x1f")...)); err != nil {
		fmt.Fprintln(os.Stderr, "tbviz:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestWatchSIGKILL kills `tbviz watch` with SIGKILL at random moments,
// restarts it, and checks that the logdir ends with every step once.
func TestWatchSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	model, images, _, err := cifar10.Extract(filepath.Join(dir, "ex"))
	if err != nil {
		t.Fatal(err)
	}
	train, logdir := filepath.Join(dir, "train"), filepath.Join(dir, "logs")
	var steps []int64
	for _, s := range []int64{3, 1, 4, 2} {
		copyTree(t, model, filepath.Join(train, fmt.Sprintf("epoch_%02d", s)))
	}
	for s := int64(1); s <= 4; s++ {
		steps = append(steps, s)
	}
	args := strings.Join([]string{"watch", "--logdir", logdir, "--images", images[0], "--once", "--settle", "5ms", "--workers", "2", "--run", "viz", train}, "\x1f")
	rng := rand.New(rand.NewPCG(3, 4))
	run := func(kill bool) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWatchHelperProcess$")
		cmd.Env = append(os.Environ(), "TBVIZ_WATCH_ARGS="+args)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill {
			time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			return
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("final run: %v\n%s", err, stderr.String())
		}
	}
	for range 3 {
		run(true)
	}
	run(false)
	img := strings.TrimSuffix(filepath.Base(images[0]), filepath.Ext(images[0]))
	wantSteps(t, logdirSteps(t, logdir), []string{"viz:gradcam/sequential/conv2d_2/Relu/" + img, "viz:prob/" + img, "viz:summary"}, steps)
}
