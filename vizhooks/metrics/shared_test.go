package metrics_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tbviz/tbviz/internal/datasets"
	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/cam"
	"github.com/tbviz/tbviz/vizhooks/metrics"
)

// fashion is the shared Fashion-MNIST model on the native engine with the
// first n real test images (0..1) and their labels.
type fashion struct {
	m          *tfmodel.Model
	eng        *native.Engine
	in, logits string
	x          *tensor.Tensor
	classes    []int
}

func loadFashion(t *testing.T, n int) fashion {
	t.Helper()
	dir := testenv.SharedModel(t, "fashion-mnist-functional-bn-tf25")
	raw, labels, err := datasets.FashionMNIST(testenv.FashionMNIST(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	f := fashion{m: m, eng: eng, x: tensor.New(tensor.Float32, n, 28, 28, 1), classes: make([]int, n)}
	for i := range f.x.F32 {
		f.x.F32[i] = float32(raw[i]) / 255
	}
	for i := range f.classes {
		f.classes[i] = int(labels[i])
	}
	f.in = m.Signature.Inputs[0].Tensor
	if f.logits, err = layers.ScoreTensor(m.Graph, m.Signature.Outputs[0].Tensor, true); err != nil {
		t.Fatal(err)
	}
	return f
}

// versusRandom scores maps and a uniform random map (seeded by seed) on
// f's images and labels with steps deletion/insertion steps, logging both.
func (f fashion) versusRandom(t *testing.T, name string, maps *tensor.Tensor, seed uint64, steps int) (got, random *metrics.Report) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	rnd := tensor.New(tensor.Float32, f.x.Shape...)
	for i := range rnd.F32 {
		rnd.F32[i] = float32(r.Float64())
	}
	score := metrics.NewScorer(f.eng, f.in, f.logits, true)
	var reps [2]*metrics.Report
	for i, mp := range []*tensor.Tensor{maps, rnd} {
		rep, err := metrics.Evaluate(context.Background(), score, &metrics.Input{Images: f.x, Maps: mp, Classes: f.classes}, metrics.Config{Steps: steps})
		if err != nil {
			t.Fatal(err)
		}
		reps[i] = rep
	}
	got, random = reps[0], reps[1]
	t.Logf("%s vs random, %d images: deletion AUC %.3f vs %.3f, insertion AUC %.3f vs %.3f, average drop %.2f%% vs %.2f%%, increase %.1f%% vs %.1f%%",
		name, f.x.Shape[0], got.DeletionAUC, random.DeletionAUC, got.InsertionAUC, random.InsertionAUC,
		got.AverageDrop, random.AverageDrop, got.IncreaseInConfidence, random.IncreaseInConfidence)
	return got, random
}

// TestRealModelPerfectBeatsRandom scores maps on the shared Fashion-MNIST
// model with real test images: the garment itself (pixel intensity, an
// oracle map of where the object is) must beat a random map on deletion
// and insertion.
func TestRealModelPerfectBeatsRandom(t *testing.T) {
	f := loadFashion(t, 4)
	o, rd := f.versusRandom(t, "oracle", f.x, 1, 14)
	if !(o.DeletionAUC < rd.DeletionAUC) || !(o.InsertionAUC > rd.InsertionAUC) {
		t.Errorf("the object map does not beat a random map: deletion %.4f vs %.4f, insertion %.4f vs %.4f", o.DeletionAUC, rd.DeletionAUC, o.InsertionAUC, rd.InsertionAUC)
	}
}

// TestRealModelGradCAMBeatsRandom scores Grad-CAM maps of the shared
// Fashion-MNIST model on real test images against random maps: a method
// that finds the evidence must delete the class faster (lower deletion
// AUC) and restore it faster (higher insertion AUC) than chance.
func TestRealModelGradCAMBeatsRandom(t *testing.T) {
	f := loadFashion(t, 32)
	m, eng, in, logits, x, classes := f.m, f.eng, f.in, f.logits, f.x, f.classes
	ctx := context.Background()
	spatial, err := layers.Spatial(ctx, eng, m.Graph, in, tensor.FromFloat32(x.F32[:28*28], 1, 28, 28, 1))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := layers.Suggest(m.Graph, spatial)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := cam.ByName("gradcam")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := gc.Compute(ctx, &cam.Input{Engine: eng, Graph: m.Graph, InputName: in, Images: x, Layer: layer.Name, Score: logits, Classes: classes})
	if err != nil {
		t.Fatal(err)
	}
	g, rd := f.versusRandom(t, "gradcam "+layer.Name, maps, 3, 28)
	if !(g.DeletionAUC < rd.DeletionAUC) || !(g.InsertionAUC > rd.InsertionAUC) {
		t.Errorf("Grad-CAM does not beat a random map: deletion %.4f vs %.4f, insertion %.4f vs %.4f", g.DeletionAUC, rd.DeletionAUC, g.InsertionAUC, rd.InsertionAUC)
	}
}
