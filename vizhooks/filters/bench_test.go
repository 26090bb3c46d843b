package filters

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/vizhooks/imageio"
)

// benchStep times one ascent step (forward to the layer, backward to the
// input, the parameter update) for a batch of units.
func benchStep(b *testing.B, r *runner) {
	ctx := context.Background()
	if _, err := r.start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := r.step(ctx, 1); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.step(ctx, i+2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
}

func newBenchRunner(b *testing.B, eng *native.Engine, in Input, layer string, n int, regs Regularizer) *runner {
	s, err := Config{Regularizers: regs, Batch: n}.resolve(in.Height, in.Channels)
	if err != nil {
		b.Fatal(err)
	}
	chans := make([]int, n)
	for i := range chans {
		chans[i] = i
	}
	return &runner{s: &s, eng: eng, in: in, rng: in.Range, layer: layer, oh: in.Height, ow: in.Width, channels: chans}
}

// BenchmarkStepMobileNetV2 is the side-by-side case of bench/filters.sh:
// the nsfwjs MobileNetV2 (α 1.4) at 224×224, target expanded_conv_5/add
// (torchvision's features[6] depth), plain and lucid-style steps, 1 and 16
// channels at once.
func BenchmarkStepMobileNetV2(b *testing.B) {
	dir := filepath.Join(testenv.GraphModels(b), "nsfwjs-mobilenetv2")
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	layer := "StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/expanded_conv_5/add"
	in := Input{Tensor: m.Signature.Inputs[0].Tensor, Height: 224, Width: 224, Channels: 3, Range: imageio.Range01}
	for _, regs := range []Regularizer{None, Default} {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%v/channels=%d", regs, n), func(b *testing.B) {
				benchStep(b, newBenchRunner(b, eng, in, layer, n, regs))
			})
		}
	}
}

// BenchmarkStepCIFAR10 is the small case: the embedded example's last conv
// layer, 32×32, 16 channels.
func BenchmarkStepCIFAR10(b *testing.B) {
	_, eng, in := cifarModel(b)
	in.Range = imageio.Range01
	for _, regs := range []Regularizer{None, Default} {
		b.Run(regs.String(), func(b *testing.B) {
			benchStep(b, newBenchRunner(b, eng.(*native.Engine), in, "sequential/conv2d_2/Relu", 16, regs))
		})
	}
}
