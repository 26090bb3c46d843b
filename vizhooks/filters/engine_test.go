package filters

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/native"
)

// cifarModel loads the embedded CIFAR-10 example (32×32×3, [0, 1]).
func cifarModel(t testing.TB) (*tfmodel.Model, engine.Engine, Input) {
	t.Helper()
	dir, _, _, err := cifar10.Extract(t.TempDir())
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
	return m, eng, Input{Tensor: m.Signature.Inputs[0].Tensor, Height: 32, Width: 32, Channels: 3}
}

func layerOf(t testing.TB, m *tfmodel.Model, name string) Layer {
	t.Helper()
	l, err := LayerOf(m.Graph, name)
	if err != nil {
		t.Fatal(err)
	}
	if l.PreActivation == "" {
		t.Fatalf("%s: no pre-activation found", name)
	}
	return l
}

// TestPlainAscentRaisesEveryChannel: the Keras-example form lifts each of
// the first 6 channels of the last conv layer far above its value on the
// starting noise (most are 0 there: dead ReLUs that come alive).
func TestPlainAscentRaisesEveryChannel(t *testing.T) {
	m, eng, in := cifarModel(t)
	chans := []int{0, 1, 2, 3, 4, 5}
	res, err := Run(context.Background(), eng, in, layerOf(t, m, "sequential/conv2d_2/Relu"), chans, Config{Steps: 48, Regularizers: None, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Units) != len(chans) || res.Size != 32 || res.Channels != 3 || res.Config.Optimizer != NormalizedGradient {
		t.Fatalf("result: %d units, size %d, %d channels, optimizer %d", len(res.Units), res.Size, res.Channels, res.Config.Optimizer)
	}
	for i, u := range res.Units {
		t.Logf("channel %d: %.4g -> %.4g", u.Channel, u.Start, u.Final)
		if u.Channel != chans[i] {
			t.Errorf("unit %d is channel %d, want %d", i, u.Channel, chans[i])
		}
		const factor, floor = 5, 0.05
		if !(u.Final >= factor*u.Start && u.Final >= floor) {
			t.Errorf("channel %d: mean activation %.4g on noise, %.4g after ascent; want at least %d times and at least %g", u.Channel, u.Start, u.Final, factor, floor)
		}
	}
}

// TestRegularisedVariantsBoundedAndEffective runs each regulariser
// family: images stay finite and in [0, 1], and the summed objective
// rises well above its start.
func TestRegularisedVariantsBoundedAndEffective(t *testing.T) {
	m, eng, in := cifarModel(t)
	layer := layerOf(t, m, "sequential/conv2d_1/Relu")
	for _, regs := range []Regularizer{0, Default | Blur | TV | L2, Jitter | Scale | Rotate | Blur | TV | L2, Decorrelate | L2} {
		res, err := Run(context.Background(), eng, in, layer, []int{2, 3}, Config{Steps: 24, Regularizers: regs, Seed: 7})
		if err != nil {
			t.Fatalf("%v: %v", regs, err)
		}
		start, final := 0.0, 0.0
		for _, u := range res.Units {
			start += u.Start
			final += u.Final
			for i, v := range u.Pixels {
				if math.IsNaN(float64(v)) || v < 0 || v > 1 {
					t.Fatalf("%v: channel %d pixel %d = %g, want in [0, 1]", regs, u.Channel, i, v)
				}
			}
		}
		t.Logf("%v: %.4g -> %.4g", regs, start, final)
		if !(final > 2*start) {
			t.Errorf("%v: summed objective %.4g -> %.4g; want more than doubled", regs, start, final)
		}
	}
}

// TestSameSeedSameImage: the same seed reproduces the images bit for bit,
// another seed changes them, and a channel's image does not depend on
// the rest of its batch.
func TestSameSeedSameImage(t *testing.T) {
	m, eng, in := cifarModel(t)
	layer := layerOf(t, m, "sequential/conv2d/Relu")
	run := func(seed uint64, chans []int, batch int) *Result {
		res, err := Run(context.Background(), eng, in, layer, chans, Config{Steps: 6, Seed: seed, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(3, []int{4, 6}, 0), run(3, []int{4, 6}, 0), run(4, []int{4, 6}, 0)
	alone := run(3, []int{6}, 1)
	same := func(x, y []float32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	for i := range a.Units {
		if !same(a.Units[i].Pixels, b.Units[i].Pixels) || a.Units[i].Final != b.Units[i].Final {
			t.Errorf("channel %d: same seed gave different images", a.Units[i].Channel)
		}
		if same(a.Units[i].Pixels, c.Units[i].Pixels) {
			t.Errorf("channel %d: seeds 3 and 4 gave the same image", a.Units[i].Channel)
		}
	}
	maxDiff := 0.0
	for i, v := range alone.Units[0].Pixels {
		maxDiff = math.Max(maxDiff, math.Abs(float64(v-a.Units[1].Pixels[i])))
	}
	if maxDiff > 1e-3 {
		t.Errorf("channel 6 alone vs in a batch of 2: images differ by up to %g", maxDiff)
	}
}

func TestObjectivesNeuronAndLogit(t *testing.T) {
	m, eng, in := cifarModel(t)
	res, err := Run(context.Background(), eng, in, layerOf(t, m, "sequential/conv2d_2/Relu"), []int{4}, Config{Steps: 12, Regularizers: None, Objective: Objective{Kind: Neuron, Y: -1, X: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if u := res.Units[0]; !(u.Final > u.Start+0.5) {
		t.Errorf("neuron: %g -> %g", u.Start, u.Final)
	}
	logits := m.Signature.Outputs[0].Tensor
	res, err = Run(context.Background(), eng, in, Layer{Tensor: logits}, []int{3, 8}, Config{Steps: 12, Objective: Objective{Kind: Logit}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range res.Units {
		if !(u.Final > u.Start+1) {
			t.Errorf("logit %d: %g -> %g", u.Channel, u.Start, u.Final)
		}
	}
}

func TestRunErrors(t *testing.T) {
	m, eng, in := cifarModel(t)
	layer := layerOf(t, m, "sequential/conv2d/Relu")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		in    Input
		layer Layer
		chans []int
		cfg   Config
		want  string
	}{
		{"channel out of range", in, layer, []int{0, 32}, Config{Steps: 1}, "channel 32 out of range: the layer has 32 channels"},
		{"negative channel", in, layer, []int{-1}, Config{}, "channel -1"},
		{"no channels", in, layer, nil, Config{}, "no channels"},
		{"bad input channels", Input{Tensor: in.Tensor, Channels: 4}, layer, []int{0}, Config{}, "4 channels; want 1 or 3"},
		{"huge size", in, layer, []int{0}, Config{Size: 1 << 20}, "size 1048576"},
		{"bad steps", in, layer, []int{0}, Config{Steps: -3}, "steps -3"},
		{"bad LR", in, layer, []int{0}, Config{LR: math.NaN()}, "learning rate"},
		{"logit on conv", in, layer, []int{0}, Config{Steps: 1, Objective: Objective{Kind: Logit}}, "logit objective: target has shape"},
		{"neuron outside", in, layer, []int{0}, Config{Steps: 1, Objective: Objective{Kind: Neuron, Y: 99, X: 0}}, "outside the layer's 30x30 grid"},
		{"unknown layer", in, Layer{Tensor: "nope"}, []int{0}, Config{Steps: 1}, "nope"},
	} {
		_, err := Run(ctx, eng, tc.in, tc.layer, tc.chans, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Run(cctx, eng, in, layer, []int{0}, Config{Steps: 5}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestParseRegularizers(t *testing.T) {
	r, err := ParseRegularizers("jitter, TV,fourier")
	if err != nil || r != Jitter|TV|Fourier || r.String() != "jitter,tv,fourier" {
		t.Errorf("got %v (%v)", r, err)
	}
	if r, err := ParseRegularizers("none"); err != nil || r != None {
		t.Errorf("none: %v %v", r, err)
	}
	if r, err := ParseRegularizers("default,blur"); err != nil || r != Default|Blur {
		t.Errorf("default,blur: %v %v", r, err)
	}
	for _, bad := range []string{"", "sharpen", "none,tv"} {
		if _, err := ParseRegularizers(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
