package cam

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func newEngine(t testing.TB, g *graph.Graph) engine.Engine {
	t.Helper()
	e, err := native.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func gapInput(t testing.TB, b *builder, images *tensor.Tensor, classes ...int) *Input {
	g := b.graph()
	return &Input{Engine: newEngine(t, g), Graph: g, InputName: gIn, Images: images, Layer: gLayer, Score: gLogits, Classes: classes}
}

func compute(t *testing.T, name string, in *Input) *tensor.Tensor {
	t.Helper()
	m, err := ByName(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Compute(context.Background(), in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// oracleCAM computes Σ_k W_kc A_k for image i from the graph's dense
// weights and activations fetched with a plain forward pass.
func oracleCAM(t *testing.T, in *Input, i int, clip bool) []float64 {
	t.Helper()
	vals, err := in.Engine.Run(context.Background(), map[string]*tensor.Tensor{gIn: in.Images}, []string{gLayer})
	if err != nil {
		t.Fatal(err)
	}
	a := vals[0]
	W := in.Graph.Node("net/dense/MatMul/ReadVariableOp/resource").Value
	hw := gH * gW
	m := make([]float64, hw)
	for p := range hw {
		for k := range gK {
			w := float64(W.F32[k*gClass+in.Classes[i]])
			if clip {
				w = math.Max(w, 0)
			}
			m[p] += w * float64(a.F32[(i*hw+p)*gK+k])
		}
	}
	return m
}

func TestGradCAMEqualsReLUCAMOnGAPDense(t *testing.T) {
	b := gapNet(t, false)
	in := gapInput(t, b, testImages(2, gH, gW, gC, 1), 0, 2)
	cam := compute(t, "cam", in)
	grad := compute(t, "gradcam", in)
	if !tensor.SameShape(cam.Shape, []int{2, gH, gW, 1}) || !tensor.SameShape(grad.Shape, cam.Shape) {
		t.Fatalf("shapes %v %v", cam.Shape, grad.Shape)
	}
	for i := range 2 {
		// CAM against an oracle computed from the weights directly.
		near(t, "cam", f64s(cam.F32[i*gH*gW:(i+1)*gH*gW]), oracleCAM(t, in, i, false), 1e-5)
		// dS/dA = W_kc/(h·w) everywhere, so Grad-CAM = ReLU(CAM)/(h·w).
		c := f64s(cam.F32[i*gH*gW : (i+1)*gH*gW])
		for j := range c {
			c[j] = math.Max(c[j], 0) / float64(gH*gW)
		}
		near(t, "gradcam", f64s(grad.F32[i*gH*gW:(i+1)*gH*gW]), c, 1e-5)
		// LayerCAM = ReLU(Σ_k ReLU(W_kc)/(h·w) · A_k): Grad-CAM with the
		// negative channel weights clipped.
		lc := compute(t, "layercam", in)
		o := oracleCAM(t, in, i, true)
		for j := range o {
			o[j] /= float64(gH * gW)
		}
		near(t, "layercam", f64s(lc.F32[i*gH*gW:(i+1)*gH*gW]), o, 1e-5)
	}
	// With non-negative class weights LayerCAM equals Grad-CAM exactly.
	W := in.Graph.Node("net/dense/MatMul/ReadVariableOp/resource").Value
	for k := range gK {
		W.F32[k*gClass] = float32(math.Abs(float64(W.F32[k*gClass])))
	}
	in.Classes = []int{0, 0}
	grad = compute(t, "gradcam", in)
	lc := compute(t, "layercam", in)
	near(t, "layercam = gradcam", f64s(lc.F32), f64s(grad.F32), 1e-6)
	// XGrad-CAM with spatially constant gradients: w_k = Σ (A/ΣA)·g = g_k,
	// the same weights as Grad-CAM.
	x := compute(t, "xgradcam", in)
	near(t, "xgradcam = gradcam", f64s(x.F32), f64s(grad.F32), 1e-6)
}

func TestCAMNeedsGAPDense(t *testing.T) {
	b := gapNet(t, true)
	in := gapInput(t, b, testImages(1, gH, gW, gC, 2), 1)
	_, err := CAM{}.Compute(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "CAM needs GAP→Dense after the target layer; found net/flatten/Reshape (Reshape)") {
		t.Errorf("CAM on a Flatten model: %v", err)
	}
	// A second dense layer after the GAP one: the score is not the dense
	// output.
	b = newBuilder(t)
	b.placeholder(gIn, -1, gH, gW, gC)
	b.conv("net/conv", gIn, 3, gC, gK)
	b.gap("net/gap/Mean", gLayer)
	b.dense("net/hidden", "net/gap/Mean", gK, 5, "Relu")
	b.dense("net/dense", "net/hidden/Relu", 5, gClass, "")
	in = gapInput(t, b, testImages(1, gH, gW, gC, 2), 1)
	_, err = CAM{}.Compute(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "computed from net/dense/MatMul (MatMul), not directly from the dense layer net/hidden/MatMul") {
		t.Errorf("CAM with two dense layers: %v", err)
	}
	in.Graph = nil
	if _, err := (CAM{}).Compute(context.Background(), in); err == nil || !strings.Contains(err.Error(), "Input.Graph") {
		t.Errorf("CAM without a graph: %v", err)
	}
}

func TestBadInputs(t *testing.T) {
	b := gapNet(t, false)
	in := gapInput(t, b, testImages(2, gH, gW, gC, 3), 0, 1)
	ctx := context.Background()
	for _, name := range Names() {
		m, _ := ByName(name)
		cases := []struct {
			mod  func(in *Input)
			want string
		}{
			{func(in *Input) { in.Classes = []int{0} }, "1 target classes for a batch of 2 images"},
			{func(in *Input) { in.Classes = []int{0, 3} }, "image 1: class index 3 out of range"},
			{func(in *Input) { in.Classes = []int{0, -1} }, "class index -1 is negative"},
			{func(in *Input) { in.Images = tensor.New(tensor.Float32, 2, 6, 6) }, "must be a [B, H, W, C] float32"},
			{func(in *Input) { in.Engine = nil }, "no engine"},
		}
		if m.Space() == LayerSpace {
			cases = append(cases, struct {
				mod  func(in *Input)
				want string
			}{func(in *Input) { in.Layer = gLogits }, "not a 4-D NHWC activation"})
		}
		for _, c := range cases {
			bad := *in
			bad.Options = Options{Samples: 1, SSSamples: 1, ISSteps: 1}
			c.mod(&bad)
			_, err := m.Compute(ctx, &bad)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), name+": ") {
				t.Errorf("%s: error %v, want %q", name, err, c.want)
			}
		}
	}
	if _, err := (GradCAM{}).Compute(ctx, nil); err == nil {
		t.Error("nil input accepted")
	}
}

// linearNet: input [?,H,W,2] → Relu (the layer, at the input resolution
// or, with pool, AvgPool 2×2 of it) → Flatten → dense (linear, with bias).
// With positive inputs the layer is the input itself, and the class score
// is a known linear function of the masked input: an oracle for the
// Score-CAM family.
func linearNet(t testing.TB, h, w int, pool bool) *builder {
	b := newBuilder(t)
	b.placeholder(gIn, -1, h, w, 2)
	b.op("net/act/Relu", "Relu", nil, gIn)
	layer, lh, lw := "net/act/Relu", h, w
	if pool {
		b.op("net/pool/AvgPool", "AvgPool", attrs{
			"ksize": graph.IntsAttr(1, 2, 2, 1), "strides": graph.IntsAttr(1, 2, 2, 1),
			"padding": graph.StringAttr("VALID"), "data_format": graph.StringAttr("NHWC"),
		}, "net/act/Relu")
		layer, lh, lw = "net/pool/AvgPool", h/2, w/2
	}
	b.flatten("net/flatten/Reshape", layer, lh*lw*2)
	b.dense("net/dense", "net/flatten/Reshape", lh*lw*2, 3, "")
	return b
}

// naiveUpsample is an independent half-pixel bilinear resize of one
// channel (TF half_pixel_centers=True, edges clamped).
func naiveUpsample(m []float64, h, w, H, W int) []float64 {
	out := make([]float64, H*W)
	coord := func(o, in, out int) (int, int, float64) {
		x := (float64(o)+0.5)*float64(in)/float64(out) - 0.5
		x = math.Max(x, 0)
		x0 := int(math.Floor(x))
		x1 := min(x0+1, in-1)
		x0 = min(x0, in-1)
		return x0, x1, x - math.Floor(x)
	}
	for y := range H {
		y0, y1, fy := coord(y, h, H)
		for x := range W {
			x0, x1, fx := coord(x, w, W)
			top := m[y0*w+x0]*(1-fx) + m[y0*w+x1]*fx
			bot := m[y1*w+x0]*(1-fx) + m[y1*w+x1]*fx
			out[y*W+x] = top*(1-fy) + bot*fy
		}
	}
	return out
}

// oracleScoreCAM recomputes the Score-CAM family by naive loops for image
// i: layer activations act (lh×lw×2), input x (H×W×2), baseline base (nil
// = zeros), dense W [lh·lw·2 (after the layer), 3] applied to the layer of
// the masked input via layerOf, and a per-channel list of mask
// multipliers (Score-CAM: {1}; IS-CAM: {1/N, …, 1}).
func oracleScoreCAM(x, base []float64, H, W int, layerOf func([]float64) []float64, score func([]float64) float64, lh, lw int, steps []float64) []float64 {
	act := layerOf(x)
	hw := lh * lw
	s := make([]float64, 2)
	for k := range 2 {
		ch := make([]float64, hw)
		lo, hi := math.Inf(1), math.Inf(-1)
		for p := range hw {
			ch[p] = act[p*2+k]
			lo, hi = math.Min(lo, ch[p]), math.Max(hi, ch[p])
		}
		for p := range ch {
			ch[p] = (ch[p] - lo) / (hi - lo)
		}
		up := naiveUpsample(ch, lh, lw, H, W)
		for _, t := range steps {
			masked := make([]float64, len(x))
			for p := range H * W {
				for c := range 2 {
					b := 0.0
					if base != nil {
						b = base[p*2+c]
					}
					masked[p*2+c] = b + t*up[p]*(x[p*2+c]-b)
				}
			}
			s[k] += score(layerOf(masked)) / float64(len(steps))
		}
	}
	e0, e1 := math.Exp(s[0]-math.Max(s[0], s[1])), math.Exp(s[1]-math.Max(s[0], s[1]))
	w0, w1 := e0/(e0+e1), e1/(e0+e1)
	m := make([]float64, hw)
	for p := range hw {
		m[p] = math.Max(0, w0*act[p*2]+w1*act[p*2+1])
	}
	return m
}

func TestScoreCAMFamilyAgainstNaiveOracle(t *testing.T) {
	const H, W = 4, 4
	for _, pool := range []bool{false, true} {
		b := linearNet(t, H, W, pool)
		g := b.graph()
		lh, lw, layer := H, W, "net/act/Relu"
		if pool {
			lh, lw, layer = H/2, W/2, "net/pool/AvgPool"
		}
		images := testImages(2, H, W, 2, 4)
		Wd := g.Node("net/dense/MatMul/ReadVariableOp/resource").Value
		bias := g.Node("net/dense/BiasAdd/ReadVariableOp/resource").Value
		layerOf := func(x []float64) []float64 {
			if !pool {
				return append([]float64(nil), x...)
			}
			out := make([]float64, lh*lw*2)
			for y := range lh {
				for xx := range lw {
					for c := range 2 {
						var s float64
						for dy := range 2 {
							for dx := range 2 {
								s += x[((2*y+dy)*W+2*xx+dx)*2+c]
							}
						}
						out[(y*lw+xx)*2+c] = s / 4
					}
				}
			}
			return out
		}
		classes := []int{2, 0}
		baseline := tensor.New(tensor.Float32, 1, H, W, 2)
		for i := range baseline.F32 {
			baseline.F32[i] = 0.25
		}
		for _, withBase := range []bool{false, true} {
			for _, method := range []string{"scorecam", "iscam"} {
				in := &Input{Engine: newEngine(t, g), Graph: g, InputName: gIn, Images: images, Layer: layer, Score: "net/dense/BiasAdd",
					Classes: classes, Options: Options{BatchSize: 3, ISSteps: 4}}
				var base []float64
				if withBase {
					in.Options.Baseline = baseline
					base = f64s(baseline.F32)
				}
				steps := []float64{1}
				if method == "iscam" {
					steps = []float64{0.25, 0.5, 0.75, 1}
				}
				got := compute(t, method, in)
				if !tensor.SameShape(got.Shape, []int{2, lh, lw, 1}) {
					t.Fatalf("%s: shape %v", method, got.Shape)
				}
				for i := range 2 {
					cls := classes[i]
					score := func(l []float64) float64 {
						s := float64(bias.F32[cls])
						for j, v := range l {
							s += v * float64(Wd.F32[j*3+cls])
						}
						return s
					}
					x := f64s(images.F32[i*H*W*2 : (i+1)*H*W*2])
					want := oracleScoreCAM(x, base, H, W, layerOf, score, lh, lw, steps)
					near(t, method, f64s(got.F32[i*lh*lw:(i+1)*lh*lw]), want, 1e-5)
				}
			}
		}
	}
}

func TestScoreCAMChannelLimitAndSmoothing(t *testing.T) {
	const H, W = 4, 4
	g := linearNet(t, H, W, false).graph()
	images := testImages(1, H, W, 2, 5)
	in := &Input{Engine: newEngine(t, g), Graph: g, InputName: gIn, Images: images, Layer: "net/act/Relu", Score: "net/dense/BiasAdd", Classes: []int{1}}
	// One channel: softmax over one channel is 1, so the map is that
	// channel (the one with the larger mean activation).
	in.Options.MaxChannels = 1
	got := compute(t, "scorecam", in)
	var mean [2]float64
	for p := range H * W {
		mean[0] += float64(images.F32[p*2])
		mean[1] += float64(images.F32[p*2+1])
	}
	k := 0
	if mean[1] > mean[0] {
		k = 1
	}
	want := make([]float64, H*W)
	for p := range want {
		want[p] = float64(images.F32[p*2+k])
	}
	near(t, "top channel", f64s(got.F32), want, 1e-6)

	// SS-CAM with vanishing noise is Score-CAM.
	in.Options = Options{SSSamples: 3, SSSigma: 1e-9}
	sc := compute(t, "scorecam", in)
	ss := compute(t, "sscam", in)
	near(t, "sscam(σ→0)", f64s(ss.F32), f64s(sc.F32), 1e-5)
	// With noise it differs, and the seed makes it reproducible.
	in.Options = Options{SSSamples: 4, SSSigma: 0.5, Seed: 9}
	a, b := compute(t, "sscam", in), compute(t, "sscam", in)
	near(t, "sscam seeded", f64s(a.F32), f64s(b.F32), 0)
	diff := 0.0
	for i := range a.F32 {
		diff += math.Abs(float64(a.F32[i] - sc.F32[i]))
	}
	if diff < 1e-6 {
		t.Error("SS-CAM with σ=0.5 equals Score-CAM")
	}

	// A constant channel is skipped; with both channels constant the map is
	// all zeros (not NaN).
	flat := tensor.New(tensor.Float32, 1, H, W, 2)
	for i := range flat.F32 {
		flat.F32[i] = 0.5
	}
	in.Images, in.Options = flat, Options{}
	z := compute(t, "scorecam", in)
	for _, v := range z.F32 {
		if v != 0 {
			t.Fatalf("constant input: map %v, want zeros", z.F32)
		}
	}
	in.Images = images
	in.Options.Baseline = tensor.New(tensor.Float32, 1, 2, 2, 2)
	if _, err := (ScoreCAM{}).Compute(context.Background(), in); err == nil || !strings.Contains(err.Error(), "baseline has shape") {
		t.Errorf("bad baseline: %v", err)
	}
}

func TestSmoothGradCAMPPReducesToGradCAMPP(t *testing.T) {
	b := gapNet(t, true)
	in := gapInput(t, b, testImages(2, gH, gW, gC, 6), 1, 2)
	pp := compute(t, "gradcam++", in)
	in.Options = Options{Samples: 2, NoiseSigma: 1e-7}
	sm := compute(t, "smoothgradcam++", in)
	near(t, "smoothgradcam++(σ→0)", f64s(sm.F32), f64s(pp.F32), 1e-4)
	in.Options = Options{Samples: 3, Seed: 4}
	a, c := compute(t, "smoothgradcam++", in), compute(t, "smoothgradcam++", in)
	near(t, "seeded", f64s(a.F32), f64s(c.F32), 0)
	if in.noiseSigma() <= 0 {
		t.Error("default noise σ is not positive")
	}
}

func TestInputSpaceMethods(t *testing.T) {
	b := gapNet(t, false)
	images := testImages(1, gH, gW, gC, 8)
	in := gapInput(t, b, images, 1)
	ctx := context.Background()

	// Saliency against central finite differences of the logit (the
	// network is piecewise linear; a small step crosses no kink here with
	// high probability, and the tolerance is loose).
	sal := compute(t, "saliency", in)
	if !tensor.SameShape(sal.Shape, []int{1, gH, gW, 1}) {
		t.Fatalf("saliency shape %v", sal.Shape)
	}
	logit := func(x *tensor.Tensor) float64 {
		v, err := in.Engine.Run(ctx, map[string]*tensor.Tensor{gIn: x}, []string{gLogits})
		if err != nil {
			t.Fatal(err)
		}
		return float64(v[0].F32[1])
	}
	const eps = 1e-2
	for _, p := range []int{0, 7, 20, 35} {
		var mx float64
		for c := range gC {
			x := images.Clone()
			x.F32[p*gC+c] += eps
			up := logit(x)
			x.F32[p*gC+c] -= 2 * eps
			mx = math.Max(mx, math.Abs(up-logit(x))/(2*eps))
		}
		if math.Abs(mx-float64(sal.F32[p])) > 2e-3*math.Max(1, mx) {
			t.Errorf("saliency at pixel %d = %g, finite differences %g", p, sal.F32[p], mx)
		}
	}

	// Guided backprop and deconvnet against plain gradients of modified
	// graphs: the only rectifier is the conv's ReLU, whose upstream
	// gradient is W_kc/(h·w). Guided = plain gradient with the class
	// weights clipped to ≥ 0; deconvnet = the same with the ReLU replaced
	// by an identity.
	gb := compute(t, "guidedbackprop", in)
	dc := compute(t, "deconvnet", in)
	if !tensor.SameShape(gb.Shape, images.Shape) || !tensor.SameShape(dc.Shape, images.Shape) {
		t.Fatalf("shapes %v %v", gb.Shape, dc.Shape)
	}
	for _, c := range []struct {
		got      *tensor.Tensor
		identity bool
	}{{gb, false}, {dc, true}} {
		ob := gapNet(t, false)
		W := ob.by["net/dense/MatMul/ReadVariableOp/resource"].Value
		for k := range gK {
			W.F32[k*gClass+1] = max(W.F32[k*gClass+1], 0)
		}
		if c.identity {
			ob.by[gLayer].Op = "Identity"
		}
		oin := gapInput(t, ob, images, 1)
		want, err := oin.inputGradients(ctx, engine.ReluNormal)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "guided/deconv", f64s(c.got.F32), f64s(want.F32), 1e-5)
	}

	// Guided Grad-CAM = guided backprop ⊙ upsampled Grad-CAM (here the
	// layer has the input's resolution, so no resampling).
	ggc := compute(t, "guidedgradcam", in)
	gc := compute(t, "gradcam", in)
	want := make([]float64, len(gb.F32))
	for p := range gH * gW {
		for c := range gC {
			want[p*gC+c] = float64(gb.F32[p*gC+c]) * float64(gc.F32[p])
		}
	}
	near(t, "guidedgradcam", f64s(ggc.F32), want, 1e-5)
}

func TestBatchChunking(t *testing.T) {
	// The same maps whether the batch runs at once or one image at a time.
	b := gapNet(t, true)
	in := gapInput(t, b, testImages(3, gH, gW, gC, 10), 0, 1, 2)
	for _, name := range []string{"gradcam", "gradcam++", "scorecam", "saliency"} {
		in.Options = Options{}
		all := compute(t, name, in)
		in.Options = Options{BatchSize: 1}
		one := compute(t, name, in)
		near(t, name+" chunked", f64s(one.F32), f64s(all.F32), 1e-5)
	}
}
