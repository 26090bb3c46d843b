package native

import (
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
)

// sharedBenchModels lists the shared SavedModels with the input value
// range of ../shared/models/MANIFEST.md.
var sharedBenchModels = []struct {
	name   string
	lo, hi float32
}{
	{"tm-mobilenetv2-eyes-tf115", -1, 1},
	{"potato-disease-tf25", 0, 255},
	{"cifar10-logits-tf28", 0, 1},
	{"mnist-seq-bn-tf210", 0, 1},
	{"fashion-mnist-functional-bn-tf25", 0, 1},
	{"mnist-keras3-export-tf220", 0, 1},
}

// savedModelBench loads a model with tfmodel.Load (a shared SavedModel
// by name, or the nsfwjs graph-model) into a native Engine for the
// benchmarks, whose sub-benchmarks are named forward/batch=N; it skips
// when the fixture is absent.
func savedModelBench(b *testing.B, name string, lo, hi float32) benchModel {
	b.Helper()
	var dir string
	if name == "nsfwjs-mobilenetv2" {
		dir = filepath.Join(testenv.GraphModels(b), name)
	} else {
		dir = testenv.SharedModel(b, name)
	}
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(m.Graph, nil)
	if err != nil {
		b.Fatal(err)
	}
	in, out := m.Signature.Inputs[0], m.Signature.Outputs[0]
	if len(in.Shape) < 2 {
		b.Fatalf("%s: input %s has shape %v; want a batch of images", name, in.Tensor, in.Shape)
	}
	return benchModel{name: "forward", e: e, input: in.Tensor, output: out.Tensor, shape: in.Shape[1:], lo: lo, hi: hi}
}

// BenchmarkForwardShared reports ms per image and GFLOP/s of a forward
// pass of each shared SavedModel and of the nsfwjs MobileNetV2, loaded
// with tfmodel.Load, at batch 1 and 8.
func BenchmarkForwardShared(b *testing.B) {
	for _, s := range sharedBenchModels {
		b.Run(s.name, func(b *testing.B) {
			benchForward(b, savedModelBench(b, s.name, s.lo, s.hi))
		})
	}
	b.Run("nsfwjs-mobilenetv2", func(b *testing.B) {
		benchForward(b, savedModelBench(b, "nsfwjs-mobilenetv2", 0, 1))
	})
}
