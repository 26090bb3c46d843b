package cam

import (
	"context"
	"math"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// rowCounter passes every call to the real engine and counts the images
// (batch rows) of the forward passes it runs.
type rowCounter struct {
	engine.Engine
	rows int
}

func (r *rowCounter) Run(ctx context.Context, feeds map[string]*tensor.Tensor, fetches []string) ([]*tensor.Tensor, error) {
	for _, t := range feeds {
		r.rows += t.Shape[0]
		break
	}
	return r.Engine.Run(ctx, feeds, fetches)
}

// Channels with bit-identical normalised masks share one masked pass in
// Score-CAM and IS-CAM; the maps must be those of scoring every channel
// on its own. The Fashion-MNIST model's last block has such channels
// (one active pixel each) on these images.
func TestScoreCAMSharedMasksChangeNothing(t *testing.T) {
	s := loadShared(t, "fashion-mnist-functional-bn-tf25")
	x := s.images(4, 1)
	ctx := context.Background()
	for _, is := range []bool{false, true} {
		variants := func(mask []float32, emit func([]float32)) { emit(mask) }
		perChannel := 1
		if is {
			perChannel = 3
			variants = func(mask []float32, emit func([]float32)) {
				scaled := make([]float32, len(mask))
				for i := 1; i <= perChannel; i++ {
					for p, v := range mask {
						scaled[p] = float32(i) / float32(perChannel) * v
					}
					emit(scaled)
				}
			}
		}
		run := func(dedup bool) (*tensor.Tensor, int, int) {
			eng := &rowCounter{Engine: s.eng}
			in := s.input1(x, s.top1(t, x))
			in.Engine = eng
			acts, err := in.activations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h, w, c := acts.Shape[1], acts.Shape[2], acts.Shape[3]
			distinct := 0
			for i := range 4 {
				a := acts.F32[i*h*w*c : (i+1)*h*w*c]
				keys := map[string]bool{}
				for _, k := range in.Options.scoreChannels(a, h*w, c) {
					keys[maskKey(normalizedChannel(a, h*w, c, k))] = true
				}
				distinct += len(keys)
			}
			eng.rows = 0
			m, err := in.scoreMaps(ctx, dedup, variants)
			if err != nil {
				t.Fatal(err)
			}
			return m, eng.rows - 4, distinct // minus the clean pass
		}
		all, rowsAll, distinct := run(false)
		shared, rowsShared, _ := run(true)
		if rowsShared != distinct*perChannel || rowsShared >= rowsAll {
			t.Fatalf("IS=%v: %d masked passes with shared masks, %d without; want %d (distinct masks × %d)", is, rowsShared, rowsAll, distinct*perChannel, perChannel)
		}
		for j, v := range all.F32 {
			if d := math.Abs(float64(v - shared.F32[j])); d > 1e-5*max(1, math.Abs(float64(v))) {
				t.Fatalf("IS=%v: map value %d is %g with shared masks, %g with every channel scored (%d vs %d passes)", is, j, shared.F32[j], v, rowsShared, rowsAll)
			}
		}
		t.Logf("IS=%v: %d masked passes instead of %d, same maps", is, rowsShared, rowsAll)
	}
}
