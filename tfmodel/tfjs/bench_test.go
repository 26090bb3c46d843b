package tfjs

import (
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
)

// BenchmarkLoadNSFWJS loads the nsfwjs MobileNetV2 graph-model (178 nodes,
// 4.3 MB of uint8-quantized weights dequantized to float32).
func BenchmarkLoadNSFWJS(b *testing.B) {
	dir := filepath.Join(testenv.GraphModels(b), "nsfwjs-mobilenetv2")
	for b.Loop() {
		if _, _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
