package cam

import (
	"math"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// A 1×2 map with 2 channels, NHWC: pixel 0 = [1, 2], pixel 1 = [3, 0].
var (
	tinyA = []float64{1, 2, 3, 0}
	tinyG = []float64{0.5, -1, 1.5, 1}
)

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

func TestGradCAMByHand(t *testing.T) {
	// w0 = (0.5+1.5)/2 = 1, w1 = (-1+1)/2 = 0 → M = [1, 3].
	near(t, "weights", gradCAMWeights(tinyG, 2, 2), []float64{1, 0}, 1e-15)
	near(t, "map", gradCAMMap(tinyA, tinyG, 2, 2), []float64{1, 3}, 1e-15)
	// Negative evidence is cut by the ReLU.
	g := []float64{-1, 0, -1, 0}
	near(t, "negative", gradCAMMap(tinyA, g, 2, 2), []float64{0, 0}, 0)
}

func TestXGradCAMByHand(t *testing.T) {
	// ch0: ΣA = 4, ΣA·g = 0.5 + 4.5 = 5 → w0 = 1.25;
	// ch1: ΣA = 2, ΣA·g = −2 → w1 = −1.
	// M = ReLU([1.25 − 2, 3.75]) = [0, 3.75].
	near(t, "map", xgradCAMMap(tinyA, tinyG, 2, 2), []float64{0, 3.75}, 1e-15)
	// A channel summing to zero gets weight 0, not NaN.
	near(t, "zero channel", xgradCAMMap([]float64{0, 1}, []float64{5, 1}, 1, 2), []float64{1}, 1e-15)
}

func TestLayerCAMByHand(t *testing.T) {
	// M = [ReLU(0.5)·1 + ReLU(−1)·2, 1.5·3 + 1·0] = [0.5, 4.5].
	near(t, "map", layerCAMMap(tinyA, tinyG, 2, 2), []float64{0.5, 4.5}, 1e-15)
}

func gradCAMPPMap(a, g []float64, hw, c int) []float64 {
	g2 := make([]float64, len(g))
	g3 := make([]float64, len(g))
	for i, v := range g {
		g2[i], g3[i] = v*v, v*v*v
	}
	return reluInPlace(weightedSum(a, gradCAMPPWeights(a, g, g2, g3, hw, c), hw, c))
}

func TestGradCAMPPClosedFormByHand(t *testing.T) {
	// Channel 0: A = [1, 3] (ΣA = 4), g = [1, 2].
	//   pixel 0: α = 1/(2·1 + 4·1) = 1/6,  contributes 1/6·1
	//   pixel 1: α = 4/(2·4 + 4·8) = 1/10, contributes 1/10·2
	//   w0 = 1/6 + 1/5 = 11/30.
	// Channel 1: A = [2, 2], g = [−1, −1]: ReLU(g) = 0 → w1 = 0.
	a := []float64{1, 2, 3, 2}
	g := []float64{1, -1, 2, -1}
	w := 11.0 / 30
	near(t, "map", gradCAMPPMap(a, g, 2, 2), []float64{w * 1, w * 3}, 1e-15)
	// A zero denominator gives α = 0, not NaN: 2g² + ΣA·g³ = 2 − 2 = 0 for
	// ΣA = −2, g = 1.
	m := gradCAMPPMap([]float64{-1, -1}, []float64{1, 1}, 2, 1)
	near(t, "zero denominator", m, []float64{0, 0}, 0)
}

func TestGradCAMPPUnderflowGuard(t *testing.T) {
	// Gradients of 1e-40 are float32 subnormals: their squares are 0 in
	// float32, so a float32 closed form gives α = 0/0 or 0 and an all-zero
	// map.
	g32 := []float32{1e-40, 0, 2e-40, 0}
	if g32[0]*g32[0] != 0 {
		t.Fatal("premise: float32 square of 1e-40 should underflow")
	}
	a := []float64{1, 0, 3, 0}
	g := make([]float64, len(g32))
	for i, v := range g32 {
		g[i] = float64(v)
	}
	m := gradCAMPPMap(a, g, 2, 2)
	out := make([]float32, 2)
	putMap(out, m)
	for _, v := range out {
		if v == 0 || math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("map %v: want finite non-zero values", out)
		}
	}
	// α ≈ 1/2 at both pixels (ΣA·g³ is negligible next to 2g²), so
	// w ≈ (g0 + g1)/2 and the map is proportional to A = [1, 3].
	if r := out[1] / out[0]; math.Abs(float64(r)-3) > 1e-5 {
		t.Errorf("map ratio %g, want 3", r)
	}
	if out[1] < 0.5 || out[1] >= 1 {
		t.Errorf("guard scaled the largest value to %g, want [0.5, 1)", out[1])
	}
}

func TestPutMapLeavesNormalRangeAlone(t *testing.T) {
	out := make([]float32, 3)
	putMap(out, []float64{1e-20, -2, 3e5})
	if out[0] != float32(1e-20) || out[1] != -2 || out[2] != 3e5 {
		t.Errorf("putMap changed normal-range values: %v", out)
	}
	putMap(out, []float64{0, 0, 0})
	if out[0] != 0 || out[2] != 0 {
		t.Errorf("zero map: %v", out)
	}
	putMap(out, []float64{1e150, 0, 5e149})
	if out[0] < 0.5 || out[0] >= 1 || math.Abs(float64(out[2]/out[0])-0.5) > 1e-6 {
		t.Errorf("huge map scaled to %v", out)
	}
}

func TestScoreChannels(t *testing.T) {
	// 3 pixels, 3 channels: channel 1 constant; means ch0 = 2, ch2 = 5.
	a := []float32{1, 7, 4, 2, 7, 5, 3, 7, 6}
	if got := (Options{}).scoreChannels(a, 3, 3); len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Errorf("channels = %v, want [0 2]", got)
	}
	if got := (Options{MaxChannels: 1}).scoreChannels(a, 3, 3); len(got) != 1 || got[0] != 2 {
		t.Errorf("top-1 channel = %v, want [2]", got)
	}
}

func TestChannelMaskHalfPixel(t *testing.T) {
	// One channel of a 2×1 map [0, 4] (normalised to [0, 1]) upsampled to
	// 4×1. Half-pixel centres: output y samples input (y+0.5)/2 − 0.5 =
	// −0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1.
	m := channelMask([]float32{0, 4}, 2, 1, 1, 0, 4, 1)
	near(t, "mask", f64s(m), []float64{0, 0.25, 0.75, 1}, 1e-7)
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestTopKAndSoftmax(t *testing.T) {
	s := tensor.FromFloat32([]float32{1, 3, 2, 3, 0, -1}, 2, 3)
	got := TopK(s, 2)
	if len(got) != 2 || got[0][0] != 1 || got[0][1] != 2 || got[1][0] != 0 || got[1][1] != 1 {
		t.Errorf("TopK = %v", got)
	}
	if got := TopK(s, 10); len(got[0]) != 3 {
		t.Errorf("TopK caps k: %v", got)
	}
	p := Softmax(s)
	e := []float64{math.Exp(1), math.Exp(3), math.Exp(2)}
	z := e[0] + e[1] + e[2]
	near(t, "softmax", p[0], []float64{e[0] / z, e[1] / z, e[2] / z}, 1e-12)
	// Large logits do not overflow.
	big := Softmax(tensor.FromFloat32([]float32{1000, 1000}, 1, 2))
	near(t, "stable", big[0], []float64{0.5, 0.5}, 1e-12)
}

func TestRegistry(t *testing.T) {
	want := []string{"cam", "deconvnet", "gradcam", "gradcam++", "guidedbackprop", "guidedgradcam", "iscam",
		"layercam", "saliency", "scorecam", "smoothgradcam++", "sscam", "xgradcam"}
	if got := strings.Join(Names(), " "); got != strings.Join(want, " ") {
		t.Errorf("Names() = %s", got)
	}
	for alias, name := range map[string]string{"grad-cam": "gradcam", "GradCAMpp": "gradcam++", "Grad-CAM++": "gradcam++",
		"score-cam": "scorecam", "gbp": "guidedbackprop", " LayerCAM ": "layercam"} {
		m, err := ByName(alias)
		if err != nil || m.Name() != name {
			t.Errorf("ByName(%q) = %v, %v; want %s", alias, m, err, name)
		}
	}
	if _, err := ByName("gradcam+++"); err == nil || !strings.Contains(err.Error(), "valid names: cam, deconvnet") {
		t.Errorf("unknown method: %v", err)
	}
	for _, n := range Names() {
		m, _ := ByName(n)
		wantSpace := LayerSpace
		switch n {
		case "saliency", "guidedbackprop", "deconvnet", "guidedgradcam":
			wantSpace = InputSpace
		}
		if m.Space() != wantSpace {
			t.Errorf("%s: Space() = %v", n, m.Space())
		}
	}
}
