package cam

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
)

// benchShared loads a model for the benchmarks: a shared SavedModel by
// name, or the nsfwjs MobileNetV2 TF.js graph-model.
func benchShared(b *testing.B, name string) *sharedModel {
	b.Helper()
	dir := filepath.Join(testenv.SharedModels(b), name)
	if name == "nsfwjs-mobilenetv2" {
		dir = filepath.Join(testenv.GraphModels(b), name)
	}
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := newShared(b, m, name)
	if name == "nsfwjs-mobilenetv2" {
		s.lo, s.hi = 0, 1
	}
	return s
}

// BenchmarkMethods reports ms per image for the main CAM methods at batch
// 1 and 8 (Score-CAM at batch 1 only on MobileNetV2, limited to 64
// channels there: its cost is one forward pass per channel).
func BenchmarkMethods(b *testing.B) {
	for _, model := range []string{"cifar10-logits-tf28", "nsfwjs-mobilenetv2"} {
		b.Run(model, func(b *testing.B) {
			s := benchShared(b, model)
			for _, method := range []string{"gradcam", "gradcam++", "layercam", "scorecam"} {
				for _, batch := range []int{1, 8} {
					opts := Options{}
					if model == "nsfwjs-mobilenetv2" && method == "scorecam" {
						if batch > 1 {
							continue
						}
						opts.MaxChannels = 64
					}
					b.Run(method+"/batch"+string(rune('0'+batch)), func(b *testing.B) {
						x := s.images(batch, 1)
						in := s.input1(x, s.top1(b, x))
						in.Options = opts
						m, _ := ByName(method)
						ctx := context.Background()
						b.ResetTimer()
						for range b.N {
							if _, err := m.Compute(ctx, in); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N*batch), "ms/image")
					})
				}
			}
		})
	}
}
