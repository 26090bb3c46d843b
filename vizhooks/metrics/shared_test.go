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

// TestRealModelPerfectBeatsRandom scores maps on the shared Fashion-MNIST
// model with real test images: the garment itself (pixel intensity, an
// oracle map of where the object is) must beat a random map on deletion
// and insertion.
func TestRealModelPerfectBeatsRandom(t *testing.T) {
	const n = 4
	f := loadFashion(t, n)
	eng, in, logits, x, classes := f.eng, f.in, f.logits, f.x, f.classes
	score := metrics.NewScorer(eng, in, logits, true)
	ctx := context.Background()

	r := rand.New(rand.NewPCG(1, 2))
	random := tensor.New(tensor.Float32, n, 28, 28, 1)
	for i := range random.F32 {
		random.F32[i] = float32(r.Float64())
	}
	cfg := metrics.Config{Steps: 14}
	reps := map[string]*metrics.Report{}
	for name, maps := range map[string]*tensor.Tensor{"oracle": x, "random": random} {
		rep, err := metrics.Evaluate(ctx, score, &metrics.Input{Images: x, Maps: maps, Classes: classes}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		reps[name] = rep
		t.Logf("%-8s deletion AUC %.4f  insertion AUC %.4f  average drop %.2f%%  increase %.1f%%", name, rep.DeletionAUC, rep.InsertionAUC, rep.AverageDrop, rep.IncreaseInConfidence)
	}
	if o, rd := reps["oracle"], reps["random"]; !(o.DeletionAUC < rd.DeletionAUC) || !(o.InsertionAUC > rd.InsertionAUC) {
		t.Errorf("the object map does not beat a random map: deletion %.4f vs %.4f, insertion %.4f vs %.4f", o.DeletionAUC, rd.DeletionAUC, o.InsertionAUC, rd.InsertionAUC)
	}
}

// TestRealModelGradCAMBeatsRandom scores Grad-CAM maps of the shared
// Fashion-MNIST model on real test images against random maps: a method
// that finds the evidence must delete the class faster (lower deletion
// AUC) and restore it faster (higher insertion AUC) than chance.
func TestRealModelGradCAMBeatsRandom(t *testing.T) {
	const n = 32
	f := loadFashion(t, n)
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
	r := rand.New(rand.NewPCG(3, 4))
	random := tensor.New(tensor.Float32, n, 28, 28, 1)
	for i := range random.F32 {
		random.F32[i] = float32(r.Float64())
	}
	score := metrics.NewScorer(eng, in, logits, true)
	cfg := metrics.Config{Steps: 28}
	reps := map[string]*metrics.Report{}
	for name, mp := range map[string]*tensor.Tensor{"gradcam": maps, "random": random} {
		rep, err := metrics.Evaluate(ctx, score, &metrics.Input{Images: x, Maps: mp, Classes: classes}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		reps[name] = rep
		t.Logf("%-8s (%s, %d images) deletion AUC %.3f  insertion AUC %.3f  average drop %.2f%%  increase %.1f%%",
			name, layer.Name, n, rep.DeletionAUC, rep.InsertionAUC, rep.AverageDrop, rep.IncreaseInConfidence)
	}
	if g, rd := reps["gradcam"], reps["random"]; !(g.DeletionAUC < rd.DeletionAUC) || !(g.InsertionAUC > rd.InsertionAUC) {
		t.Errorf("Grad-CAM does not beat a random map: deletion %.4f vs %.4f, insertion %.4f vs %.4f", g.DeletionAUC, rd.DeletionAUC, g.InsertionAUC, rd.InsertionAUC)
	}
}
