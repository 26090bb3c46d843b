package cam

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSideBySide is the Go side of bench/run.sh's comparison with
// PyTorch (bench/torch_ref.py): Grad-CAM, Grad-CAM++ and LayerCAM at
// batch 1 and 8, and Score-CAM at batch 1 (every non-constant channel,
// identical masks sharing a pass), on the nsfwjs MobileNetV2 (224x224),
// reporting ms per image and Score-CAM's masked passes per image.
func BenchmarkSideBySide(b *testing.B) {
	s := benchShared(b, "nsfwjs-mobilenetv2")
	type work struct {
		method string
		batch  int
	}
	works := []work{{"gradcam", 1}, {"gradcam", 8}, {"gradcam++", 1}, {"gradcam++", 8}, {"layercam", 1}, {"layercam", 8}, {"scorecam", 1}}
	for _, w := range works {
		b.Run(fmt.Sprintf("%s/batch=%d", w.method, w.batch), func(b *testing.B) {
			x := s.images(w.batch, 1)
			in := s.input1(x, s.top1(b, x))
			eng := &rowCounter{Engine: s.eng}
			in.Engine = eng
			m, err := ByName(w.method)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Compute(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N*w.batch), "ms/image")
			if w.method == "scorecam" {
				// Masked passes (every row but the clean one), to compare
				// with the reference's one per channel.
				b.ReportMetric(float64(eng.rows-b.N*w.batch)/float64(b.N*w.batch), "passes/image")
			}
		})
	}
}
