package vizhooks_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/vizhooks"
	"github.com/tbviz/tbviz/vizhooks/explain"
)

// ExampleNewHook calls the hook from a (here empty) training loop: every
// 50 steps the model, with its variables as they are at that step, is
// explained with Grad-CAM in the background and written to TensorBoard.
func ExampleNewHook() {
	dir, err := os.MkdirTemp("", "hook")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	modelDir, images, _, err := cifar10.Extract(dir)
	if err != nil {
		log.Fatal(err)
	}
	m, err := tfmodel.Load(modelDir, nil)
	if err != nil {
		log.Fatal(err)
	}
	logdir := dir + "/logs"
	h, err := vizhooks.NewHook(vizhooks.HookConfig{
		Logdir:  logdir,
		Images:  images[:1],
		Every:   50,
		Policy:  vizhooks.Block, // keep every 50th step (Skip never waits)
		Explain: explain.Config{Methods: []string{"gradcam"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for step := int64(0); step <= 100; step++ {
		// ... one optimizer step updating m's variables ...
		if err := h.AfterStep(ctx, step, m); err != nil {
			log.Fatal(err)
		}
	}
	if err := h.Close(); err != nil {
		log.Fatal(err)
	}

	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range ld.Run(".").Series("gradcam/sequential/conv2d_2/Relu/chelsea") {
		fmt.Println("step", v.Step, "Grad-CAM panel")
	}
	fmt.Println("dropped:", h.Dropped())
	// Output:
	// step 0 Grad-CAM panel
	// step 50 Grad-CAM panel
	// step 100 Grad-CAM panel
	// dropped: 0
}
