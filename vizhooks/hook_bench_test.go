package vizhooks_test

import (
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/vizhooks"
)

// BenchmarkSnapshot is what a visualised step costs the training loop: a
// Hook's AfterStep on a loaded model copies its variables (Snapshot) and
// hands the copy to the background workers through a channel. Measured on
// the embedded CIFAR-10 CNN (122,570 parameters).
func BenchmarkSnapshot(b *testing.B) {
	modelDir, _, _, err := cifar10.Extract(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	m, err := tfmodel.Load(modelDir, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s := vizhooks.Snapshot(m); s.Graph == m.Graph {
			b.Fatal("Snapshot shares the graph")
		}
	}
}
