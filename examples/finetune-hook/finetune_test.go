package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/internal/datasets"
	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks"
)

// TestFinetune runs a short fine-tuning on real Fashion-MNIST and checks
// that the head learns (held-out accuracy well above the 10% of chance and
// above the re-initialised head's) and that the logdir holds the hook's
// panels, probabilities and summaries at exactly the hooked steps.
func TestFinetune(t *testing.T) {
	data := testenv.FashionMNIST(t)
	logdir := t.TempDir()
	cfg := config{Logdir: logdir, Data: data, Steps: 60, Every: 20, Batch: 32, LR: 0.1, Eval: 200, Probes: 2, Pool: 400, TrainSplit: "test", Seed: 1,
		Policy: vizhooks.Block, Methods: []string{"gradcam", "gradcam++"}}
	res, err := finetune(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.3f -> %.3f, loss %.3f -> %.3f, hook %v vs SGD %v", res.AccBefore, res.AccAfter, res.LossFirst, res.LossLast, res.HookTime, res.StepTime)
	if res.AccAfter < 0.35 || res.AccAfter < res.AccBefore+0.15 {
		t.Errorf("held-out accuracy %.3f after %d steps (re-initialised head: %.3f); want >= 0.35 and a clear gain", res.AccAfter, cfg.Steps, res.AccBefore)
	}
	if res.LossLast >= res.LossFirst {
		t.Errorf("training loss did not fall: %.3f -> %.3f", res.LossFirst, res.LossLast)
	}
	if fmt.Sprint(res.HookSteps) != "[20 40 60]" || res.Dropped != 0 {
		t.Errorf("hook steps %v, dropped %d", res.HookSteps, res.Dropped)
	}

	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.Problems) > 0 {
		t.Fatalf("logdir problems: %v", ld.Problems)
	}
	run := ld.Run(".")
	if run == nil {
		t.Fatalf("no run at the logdir root; runs: %v", ld.Runs)
	}
	for _, p := range res.Probes {
		img := strings.TrimSuffix(filepath.Base(p), ".png")
		for _, tag := range []string{
			"gradcam/sequential/conv2d_2/Relu/" + img,
			"gradcam++/sequential/conv2d_2/Relu/" + img,
			"prob/" + img,
		} {
			var steps []int64
			for _, v := range run.Series(tag) {
				steps = append(steps, v.Step)
			}
			if fmt.Sprint(steps) != "[20 40 60]" {
				t.Errorf("%s at steps %v, want [20 40 60] (tags: %v)", tag, steps, run.Tags())
			}
		}
	}
	if n := len(run.Series("train/loss")); n != 3 {
		t.Errorf("%d train/loss values, want 3", n)
	}
	if acc := run.Series("eval/accuracy"); len(acc) != 1 || math.Abs(acc[0].Scalar-res.AccAfter) > 1e-9 {
		t.Errorf("eval/accuracy = %+v, want %.3f", acc, res.AccAfter)
	}
	if s := run.Series("hook/summary"); len(s) != 1 || !strings.Contains(s[0].Text, "3 steps visualised, 0 dropped") {
		t.Errorf("hook/summary = %+v", s)
	}
}

// TestHeadGradient checks the engine's gradient with respect to the head's
// variables against the Dense gradient formed in Go from the head's input
// features (dW = xᵀ·dlogits, db = Σ dlogits) on one batch.
func TestHeadGradient(t *testing.T) {
	data := testenv.FashionMNIST(t)
	dir, _, _, err := cifar10.Extract(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := findHead(m)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	images, labels, err := datasets.FashionMNIST(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	x := toInput(images, []int{0, 1, 2, 3, 4, 5, 6, 7})
	y := make([]int, 8)
	for i := range y {
		y[i] = int(labels[i])
	}
	_, res, err := headGrads(context.Background(), eng, h, h.input, x, y)
	if err != nil {
		t.Fatal(err)
	}
	out, err := eng.Run(context.Background(), map[string]*tensor.Tensor{h.input: x}, []string{h.features, h.logits})
	if err != nil {
		t.Fatal(err)
	}
	feat := out[0]
	_, dl := softmaxGrad(out[1], y)
	nf, k := feat.Shape[1], dl.Shape[1]
	for i := range nf {
		for c := range k {
			want := 0.0
			for b := range 8 {
				want += float64(feat.F32[b*nf+i]) * float64(dl.F32[b*k+c])
			}
			if got := float64(res[h.kernel.Name].F32[i*k+c]); math.Abs(got-want) > 1e-5+1e-4*math.Abs(want) {
				t.Fatalf("dW[%d,%d] = %g, Go's xᵀ·dlogits gives %g", i, c, got, want)
			}
		}
	}
	for c := range k {
		want := 0.0
		for b := range 8 {
			want += float64(dl.F32[b*k+c])
		}
		if got := float64(res[h.bias.Name].F32[c]); math.Abs(got-want) > 1e-6 {
			t.Fatalf("db[%d] = %g, want %g", c, got, want)
		}
	}
}

// TestSoftmaxGrad checks the cross-entropy gradient against central
// finite differences of the loss.
func TestSoftmaxGrad(t *testing.T) {
	logits := tensor.FromFloat32([]float32{1, -2, 0.5, 3, 0, 0, 0.25, -1, 2}, 3, 3)
	y := []int{2, 0, 1}
	_, g := softmaxGrad(logits, y)
	for i := range logits.F32 {
		const eps = 1e-2
		up, down := logits.Clone(), logits.Clone()
		up.F32[i] += eps
		down.F32[i] -= eps
		lu, _ := softmaxGrad(up, y)
		ld, _ := softmaxGrad(down, y)
		if fd := (lu - ld) / (2 * eps); math.Abs(fd-float64(g.F32[i])) > 1e-4 {
			t.Errorf("dL/dlogit[%d] = %g, finite differences %g", i, g.F32[i], fd)
		}
	}
}
