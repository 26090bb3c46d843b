package watch_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/vizhooks/watch"
)

// ExampleWatch processes the SavedModel exports already in a directory
// (Once) with a Processor that writes one scalar per export, and reads the
// steps back from the logdir.
func ExampleWatch() {
	root, _ := os.MkdirTemp("", "watch-example-")
	defer os.RemoveAll(root)
	// Two exports, as a training run leaves them.
	for _, step := range []string{"step_200", "step_100"} {
		if _, _, _, err := cifar10.Extract(filepath.Join(root, "train", step)); err != nil {
			fmt.Println(err)
			return
		}
	}
	proc := watch.ProcessorFunc(func(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
		return w.Scalar("exports", it.Step, 1)
	})
	cfg := watch.Config{
		Dir:    filepath.Join(root, "train"),
		Logdir: filepath.Join(root, "logs"),
		Once:   true,
		Settle: 10 * time.Millisecond,
		OnEvent: func(e watch.Event) {
			if e.Status == watch.Done {
				fmt.Printf("%s: step %d (from the %s)\n", e.Item.Rel, e.Item.Step, e.Item.StepSource)
			}
		},
	}
	if err := watch.Watch(context.Background(), cfg, proc); err != nil {
		fmt.Println(err)
		return
	}
	ld, _ := tbwriter.ReadLogdir(cfg.Logdir)
	for _, v := range ld.Run(".").Series("exports") {
		fmt.Println("logdir has step", v.Step)
	}
	// Output:
	// step_100/model: step 100 (from the name)
	// step_200/model: step 200 (from the name)
	// logdir has step 100
	// logdir has step 200
}
