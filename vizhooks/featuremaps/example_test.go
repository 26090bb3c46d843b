package featuremaps_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/vizhooks/featuremaps"
	"github.com/tbviz/tbviz/vizhooks/imageio"
)

// Two layers of the embedded CIFAR-10 example, fetched in one forward
// pass: the 12 most active channels of each, 9 tiles a page.
func ExampleCompute() {
	dir, err := os.MkdirTemp("", "featuremaps-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	modelDir, images, _, err := cifar10.Extract(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := tfmodel.Load(modelDir, nil)
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
	batch, err := imageio.LoadBatch(images[:1], 32, 32, 3, imageio.Range01)
	if err != nil {
		fmt.Println(err)
		return
	}
	sel, _ := featuremaps.ParseChannels("top:12")
	res, err := featuremaps.Compute(context.Background(), eng, m.Signature.Inputs[0].Tensor,
		[]string{"sequential/conv2d/Relu", "sequential/conv2d_2/Relu"}, batch.Tensor,
		featuremaps.Config{Channels: sel, PageSize: 9})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range res.Layers {
		im := l.Images[0]
		fmt.Println(l.Name, l.Activations.Shape, len(im.Channels), "channels,", featuremaps.Tags(l.Name, "chelsea", len(im.Pages)))
	}
	// Output:
	// sequential/conv2d/Relu [1 30 30 32] 12 channels, [featuremaps/sequential/conv2d/Relu/chelsea/p0 featuremaps/sequential/conv2d/Relu/chelsea/p1]
	// sequential/conv2d_2/Relu [1 4 4 64] 12 channels, [featuremaps/sequential/conv2d_2/Relu/chelsea/p0 featuremaps/sequential/conv2d_2/Relu/chelsea/p1]
}
