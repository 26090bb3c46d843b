package watch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/vizhooks/watch"
)

// helperMain is the child process of TestRestartAfterSIGKILL: a --once
// watch of $TBVIZ_WATCH_DIR into $TBVIZ_WATCH_LOGDIR with two workers and a
// processor that writes several values slowly.
func helperMain() int {
	proc := func(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
		for _, tag := range []string{"a", "b", "c", "d"} {
			if err := w.Scalar(tag, it.Step, float64(it.Step)); err != nil {
				return err
			}
			select {
			case <-time.After(3 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	cfg := watch.Config{Dir: os.Getenv("TBVIZ_WATCH_DIR"), Logdir: os.Getenv("TBVIZ_WATCH_LOGDIR"), Once: true, Workers: 2, Settle: time.Millisecond, Checkpoints: true}
	if err := watch.Watch(context.Background(), cfg, watch.ProcessorFunc(proc)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// linkOrCopy hard-links src to dst (copies where links are not possible).
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst)
}

// TestRestartAfterSIGKILL kills a watching process with SIGKILL at random
// moments, restarts it each time, and finally lets it finish: every step
// is in the logdir exactly once per tag, and no temporary file is left.
func TestRestartAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	root := t.TempDir()
	dir, logdir := filepath.Join(root, "train"), filepath.Join(root, "logs")
	model, _ := exampleModel(t)
	vars := filepath.Join(model, "variables", "variables")
	const n = 40
	var want []int64
	for i := range n {
		prefix := filepath.Join(dir, fmt.Sprintf("ckpt-%d", (i*7)%n*10))
		want = append(want, int64((i*7)%n*10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{".index", ".data-00000-of-00001"} {
			if err := linkOrCopy(vars+ext, prefix+ext); err != nil {
				t.Fatal(err)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	run := func(kill bool) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "TBVIZ_WATCH_HELPER=1", "TBVIZ_WATCH_DIR="+dir, "TBVIZ_WATCH_LOGDIR="+logdir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill {
			time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			return
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("final run: %v\n%s", err, stderr.String())
		}
	}
	for range 8 {
		run(true)
	}
	run(false)
	checkSteps(t, logdir, []string{"a", "b", "c", "d"}, want...)
	tmps, _ := filepath.Glob(filepath.Join(logdir, ".tbviz-watch-*"))
	for _, p := range tmps {
		if !strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, ".lock") {
			t.Errorf("left behind: %s", p)
		}
	}
}
