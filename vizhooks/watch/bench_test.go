package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/watch"
)

// explainProc is what tbviz watch does for a SavedModel: load, Grad-CAM on
// one image, write at the item's step.
func explainProc(image string) watch.ProcessorFunc {
	return func(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
		m, err := tfmodel.Load(it.Path, nil)
		if err != nil {
			return err
		}
		eng, err := native.New(m.Graph, nil)
		if err != nil {
			return err
		}
		defer eng.Close()
		_, err = explain.Run(ctx, m, eng, []string{image}, w, explain.Config{Step: it.Step, Class: -1})
		return err
	}
}

// linkTree hard-links (or copies) the files of src into dst.
func linkTree(b *testing.B, src, dst string) {
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return linkOrCopy(p, filepath.Join(dst, rel))
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLatency measures, with the default 1 s settle period and
// fsnotify, the time from a complete SavedModel export appearing in the
// watched directory (renamed in) to its events being published, and the
// part of it that is not the Processor's compute (overhead-ms: settle,
// scan, bundle check, publication, state file).
func BenchmarkLatency(b *testing.B) {
	model, image := exampleModel(b)
	root := b.TempDir()
	dir, stage := filepath.Join(root, "train"), filepath.Join(root, "stage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	events := make(chan watch.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watch.Watch(ctx, watch.Config{Dir: dir, Logdir: filepath.Join(root, "logs"), OnEvent: func(e watch.Event) { events <- e }}, explainProc(image))
	}()
	var total, compute time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		src := filepath.Join(stage, fmt.Sprint(i))
		linkTree(b, model, src)
		b.StartTimer()
		start := time.Now()
		if err := os.Rename(src, filepath.Join(dir, fmt.Sprintf("step_%d", i))); err != nil {
			b.Fatal(err)
		}
		for e := range events {
			if e.Status == watch.Done {
				total += time.Since(start)
				compute += e.Duration
				break
			}
			if e.Status == watch.Failed || e.Status == watch.Retrying {
				b.Fatal(e.Err)
			}
		}
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "latency-ms")
	b.ReportMetric(float64((total-compute).Milliseconds())/float64(b.N), "overhead-ms")
}

// BenchmarkOnce20 is `tbviz watch --once --workers 2` over 20 exports
// (default settle period), Grad-CAM on one image each.
func BenchmarkOnce20(b *testing.B) {
	model, image := exampleModel(b)
	for range b.N {
		b.StopTimer()
		root := b.TempDir()
		dir := filepath.Join(root, "train")
		for s := range 20 {
			linkTree(b, model, filepath.Join(dir, "export", fmt.Sprint(1000+s)))
		}
		b.StartTimer()
		err := watch.Watch(context.Background(), watch.Config{Dir: dir, Logdir: filepath.Join(root, "logs"), Once: true, Workers: 2}, explainProc(image))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(20*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}
