package explain_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/vizhooks/explain"
)

// ExampleRun explains the two most probable classes of a photo with
// Grad-CAM and writes the panels into a TensorBoard run.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "explain-example-")
	defer os.RemoveAll(dir)
	model, images, _, err := cifar10.Extract(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := tfmodel.Load(model, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer eng.Close()
	w, err := tbwriter.NewWriter(filepath.Join(dir, "logs", "run1"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	res, err := explain.Run(context.Background(), m, eng, images[:1], w, explain.Config{Targets: []explain.Choice{{Top: 2}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("output", res.Output, "score", res.Score)
	for _, r := range res.Images {
		fmt.Printf("rank %d class %d: %s\n", r.Target.Rank, r.Target.Class, r.Maps[0].Tag)
	}
	// Output:
	// output dense_1 score StatefulPartitionedCall:0
	// rank 1 class 5: gradcam/sequential/conv2d_2/Relu/chelsea/top1
	// rank 2 class 4: gradcam/sequential/conv2d_2/Relu/chelsea/top2
}

func ExampleParseChoices() {
	labels := []string{"airplane", "automobile", "bird", "cat"}
	targets, err := explain.ParseChoices("cat,2,top3", labels)
	fmt.Println(targets, err)
	// Output: [3 2 top3] <nil>
}

func ExampleSamplesFor() {
	// An image tag with 37 steps in the logdir (explain.MaxImageSteps):
	fmt.Println(explain.TensorBoardCommand("runs", explain.SamplesFor(37)))
	// Output: tensorboard --logdir runs --samples_per_plugin images=50
}
