package tfmodel_test

import (
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
)

func TestInputScale(t *testing.T) {
	for name, want := range map[string]bool{
		"potato-disease-tf25":              true, // Resizing + Rescaling(1/255) inside the graph
		"cifar10-logits-tf28":              false,
		"fashion-mnist-functional-bn-tf25": false,
		"mnist-keras3-export-tf220":        false,
	} {
		m, err := tfmodel.Load(testenv.SharedModel(t, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi, reason, ok := m.InputScale()
		if ok != want || (ok && (lo != 0 || hi != 255 || reason == "")) {
			t.Errorf("%s: InputScale = %g, %g, %q, %v; want found=%v", name, lo, hi, reason, ok, want)
		}
	}
}
