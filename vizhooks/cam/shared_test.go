package cam

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tbviz/tbviz/internal/datasets"
	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/native"
	_ "github.com/tbviz/tbviz/tfmodel/native/image" // ResizeBilinear (potato), until package native links it
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// sharedModel is a loaded shared model with everything a method needs.
type sharedModel struct {
	m            *tfmodel.Model
	eng          *native.Engine
	input        string
	layer, score string
	shape        []int // [H, W, C]
	lo, hi       float32
}

// loadShared loads a shared model, its native engine, the suggested layer
// and the logits.
func loadShared(t testing.TB, name string) *sharedModel {
	t.Helper()
	m, err := tfmodel.Load(filepath.Join(testenv.SharedModels(t), name), nil)
	if err != nil {
		t.Fatal(err)
	}
	return newShared(t, m, name)
}

func newShared(t testing.TB, m *tfmodel.Model, name string) *sharedModel {
	t.Helper()
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	in := m.Signature.Inputs[0]
	s := &sharedModel{m: m, eng: eng, input: in.Tensor, shape: in.Shape[1:], lo: 0, hi: 1}
	switch name {
	case "potato-disease-tf25":
		s.hi = 255
	case "tm-mobilenetv2-eyes-tf115":
		s.lo = -1
	}
	x := s.images(1, 1)
	ls, err := layers.Spatial(context.Background(), eng, m.Graph, s.input, x)
	if err != nil {
		t.Fatal(err)
	}
	l, err := layers.Suggest(m.Graph, ls)
	if err != nil {
		t.Fatal(err)
	}
	s.layer = l.Name
	if s.score, err = layers.ScoreTensor(m.Graph, m.Signature.Outputs[0].Tensor, true); err != nil {
		t.Fatal(err)
	}
	return s
}

// images returns b smooth random images in the model's input range.
func (s *sharedModel) images(b int, seed uint64) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 3))
	h, w, c := s.shape[0], s.shape[1], s.shape[2]
	x := tensor.New(tensor.Float32, b, h, w, c)
	for i := range b {
		// A few Gaussian blobs per channel, so that the maps have structure.
		for ch := range c {
			for range 3 {
				cy, cx, rad := r.Float64()*float64(h), r.Float64()*float64(w), (0.1+0.2*r.Float64())*float64(h)
				for y := range h {
					for xx := range w {
						d := (float64(y)-cy)*(float64(y)-cy) + (float64(xx)-cx)*(float64(xx)-cx)
						x.F32[((i*h+y)*w+xx)*c+ch] += float32(math.Exp(-d / (2 * rad * rad)))
					}
				}
			}
		}
	}
	for j, v := range x.F32 {
		v = min(v, 1)
		x.F32[j] = s.lo + v*(s.hi-s.lo)
	}
	return x
}

func (s *sharedModel) input1(images *tensor.Tensor, classes []int) *Input {
	return &Input{Engine: s.eng, Graph: s.m.Graph, InputName: s.input, Images: images, Layer: s.layer, Score: s.score, Classes: classes}
}

// top1 returns the predicted class of each image.
func (s *sharedModel) top1(t testing.TB, images *tensor.Tensor) []int {
	t.Helper()
	v, err := s.eng.Run(context.Background(), map[string]*tensor.Tensor{s.input: images}, []string{s.score})
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, k := range TopK(v[0], 1) {
		out = append(out, k[0])
	}
	return out
}

func checkMaps(t *testing.T, what string, m *tensor.Tensor, shape []int) {
	t.Helper()
	if !tensor.SameShape(m.Shape, shape) {
		t.Errorf("%s: shape %v, want %v", what, m.Shape, shape)
		return
	}
	per := m.Len() / shape[0]
	for i := range shape[0] {
		v := m.F32[i*per : (i+1)*per]
		lo, hi := v[0], v[0]
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Errorf("%s: image %d has a non-finite value", what, i)
				return
			}
			lo, hi = min(lo, x), max(hi, x)
		}
		if hi <= lo {
			t.Errorf("%s: image %d has a constant map (%g)", what, i, lo)
		}
	}
}

func TestEveryMethodOnSharedModels(t *testing.T) {
	models := []string{"cifar10-logits-tf28", "mnist-seq-bn-tf210", "fashion-mnist-functional-bn-tf25",
		"mnist-keras3-export-tf220", "potato-disease-tf25", "tm-mobilenetv2-eyes-tf115"}
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			big := name == "potato-disease-tf25" || name == "tm-mobilenetv2-eyes-tf115"
			s := loadShared(t, name)
			x := s.images(1, 2)
			in := s.input1(x, s.top1(t, x))
			in.Options = Options{MaxChannels: 4, SSSamples: 2, SSSigma: 0.5, ISSteps: 2, Samples: 2}
			H, W, C := s.shape[0], s.shape[1], s.shape[2]
			for _, mn := range Names() {
				// The 224² and 256² models are slow under -race: there, only
				// the one-pass gradient methods (only Grad-CAM in -short).
				if big && mn != "gradcam" && (testing.Short() || mn != "gradcam++" && mn != "cam") {
					continue
				}
				m, _ := ByName(mn)
				start := time.Now()
				out, err := m.Compute(context.Background(), in)
				t.Logf("%s: %v", mn, time.Since(start))
				if mn == "cam" {
					// No shared model has global average pooling feeding the
					// score's dense layer directly.
					if err == nil || !strings.Contains(err.Error(), "CAM needs GAP→Dense after the target layer") {
						t.Errorf("cam: %v, want the GAP→Dense error", err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", mn, err)
					continue
				}
				switch mn {
				case "saliency":
					checkMaps(t, mn, out, []int{1, H, W, 1})
				case "guidedbackprop", "deconvnet", "guidedgradcam":
					checkMaps(t, mn, out, []int{1, H, W, C})
				default:
					vals, _ := s.eng.Run(context.Background(), map[string]*tensor.Tensor{s.input: x}, []string{s.layer})
					checkMaps(t, mn, out, []int{1, vals[0].Shape[1], vals[0].Shape[2], 1})
				}
			}
		})
	}
}

// cloneWith returns a copy of g whose node named replace has value v.
func cloneWith(t testing.TB, g *graph.Graph, replace string, v *tensor.Tensor) *graph.Graph {
	t.Helper()
	m := make(map[*graph.Node]*graph.Node, len(g.Nodes))
	nodes := make([]*graph.Node, len(g.Nodes))
	for i, n := range g.Nodes {
		c := *n
		c.Inputs = make([]graph.Endpoint, len(n.Inputs))
		for j, in := range n.Inputs {
			c.Inputs[j] = graph.Endpoint{Node: m[in.Node], Index: in.Index}
		}
		if n.Name == replace {
			c.Value = v
		}
		m[n] = &c
		nodes[i] = &c
	}
	out, err := graph.New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// spearman returns the Spearman rank correlation of a and b.
func spearman(a, b []float32) float64 {
	rank := func(v []float32) []float64 {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(i, j int) bool { return v[idx[i]] < v[idx[j]] })
		r := make([]float64, len(v))
		for i := 0; i < len(idx); {
			j := i
			for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
				j++
			}
			for k := i; k <= j; k++ {
				r[idx[k]] = float64(i+j) / 2 // ties share the mean rank
			}
			i = j + 1
		}
		return r
	}
	ra, rb := rank(a), rank(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		sab += (ra[i] - ma) * (rb[i] - mb)
		saa += (ra[i] - ma) * (ra[i] - ma)
		sbb += (rb[i] - mb) * (rb[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

func TestSpearman(t *testing.T) {
	if r := spearman([]float32{1, 2, 3, 4}, []float32{10, 20, 30, 45}); math.Abs(r-1) > 1e-12 {
		t.Errorf("monotone: %g", r)
	}
	if r := spearman([]float32{1, 2, 3, 4}, []float32{4, 3, 2, 1}); math.Abs(r+1) > 1e-12 {
		t.Errorf("reversed: %g", r)
	}
	// Hand-computed: ranks [1,2,3] vs [2,1,3] → ρ = 1 − 6·2/(3·8) = 0.5.
	if r := spearman([]float32{1, 2, 3}, []float32{5, 4, 6}); math.Abs(r-0.5) > 1e-12 {
		t.Errorf("ρ = %g, want 0.5", r)
	}
}

// fashionTest returns n Fashion-MNIST test images as [n, 28, 28, 1] in
// [0, 1] (/255, as the model was trained) with their labels.
func fashionTest(t testing.TB, n int) (*tensor.Tensor, []int) {
	t.Helper()
	px, lb, err := datasets.FashionMNIST(testenv.FashionMNIST(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, n, 28, 28, 1)
	for i := range x.F32 {
		x.F32[i] = float32(px[i]) / 255
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = int(lb[i])
	}
	return x, labels
}

func TestModelRandomisationChangesGradCAM(t *testing.T) {
	// Adebayo et al. 2018: a faithful explanation depends on the weights.
	// Randomising the last dense layer must change the Grad-CAM maps.
	const name = "fashion-mnist-functional-bn-tf25"
	s := loadShared(t, name)
	x, labels := fashionTest(t, 8)
	in := s.input1(x, labels)
	orig, err := GradCAM{}.Compute(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// The last dense layer's kernel: the MatMul variable read feeding the
	// score.
	ep, err := s.m.Graph.Resolve(s.score)
	if err != nil {
		t.Fatal(err)
	}
	n := ep.Node
	for n.Op != "MatMul" && len(n.Inputs) > 0 {
		n = n.Inputs[0].Node
	}
	kernel := n.Inputs[1].Node
	for kernel.Value == nil && (kernel.Op == "ReadVariableOp" || kernel.Op == "Identity") {
		kernel = kernel.Inputs[0].Node
	}
	if n.Op != "MatMul" || kernel.Value == nil || kernel.Value.Rank() != 2 {
		t.Fatalf("no dense kernel found before %s (reached %s, %s)", s.score, n, kernel)
	}
	r := rand.New(rand.NewPCG(11, 12))
	rnd := tensor.NewLike(kernel.Value)
	var sd float64
	for _, v := range kernel.Value.F32 {
		sd += float64(v) * float64(v)
	}
	sd = math.Sqrt(sd / float64(kernel.Value.Len()))
	for i := range rnd.F32 {
		rnd.F32[i] = float32(r.NormFloat64() * sd)
	}
	m2 := *s.m
	m2.Graph = cloneWith(t, s.m.Graph, kernel.Name, rnd)
	s2 := newShared(t, &m2, name)
	rin := s2.input1(x, labels)
	randomised, err := GradCAM{}.Compute(context.Background(), rin)
	if err != nil {
		t.Fatal(err)
	}
	hw := orig.Len() / 8
	var mean float64
	for i := range 8 {
		rho := spearman(orig.F32[i*hw:(i+1)*hw], randomised.F32[i*hw:(i+1)*hw])
		t.Logf("image %d (%s): Spearman ρ = %.3f", i, datasets.FashionMNISTClasses[labels[i]], rho)
		mean += rho / 8
	}
	if mean >= 0.5 {
		t.Errorf("mean Spearman correlation between Grad-CAM maps of the trained and the randomised model is %.3f, want < 0.5", mean)
	}
	// Sanity of the check itself: the unmodified copy reproduces the maps.
	same := cloneWith(t, s.m.Graph, kernel.Name, kernel.Value)
	m3 := *s.m
	m3.Graph = same
	s3 := newShared(t, &m3, name)
	again, err := GradCAM{}.Compute(context.Background(), s3.input1(x, labels))
	if err != nil {
		t.Fatal(err)
	}
	if rho := spearman(orig.F32, again.F32); rho < 0.999 {
		t.Errorf("an unmodified copy gives different maps (ρ = %g)", rho)
	}
}

func TestGradCAMLocalisesFashionMNIST(t *testing.T) {
	// On correctly classified Fashion-MNIST test images, most of the
	// Grad-CAM mass (upsampled to 28×28) lies on the item, well above the
	// fraction of the image the item covers.
	s := loadShared(t, "fashion-mnist-functional-bn-tf25")
	x, labels := fashionTest(t, 64)
	pred := s.top1(t, x)
	maps, err := GradCAM{}.Compute(context.Background(), s.input1(x, labels))
	if err != nil {
		t.Fatal(err)
	}
	h, w := maps.Shape[1], maps.Shape[2]
	var n int
	var massSum, areaSum float64
	up := make([]float32, 28*28)
	for i := range labels {
		if pred[i] != labels[i] {
			continue
		}
		up = render.Upsample(maps.F32[i*h*w:(i+1)*h*w], h, w, 28, 28, up)
		var mass, onItem, area float64
		for p, v := range up {
			v = max(v, 0)
			mass += float64(v)
			if x.F32[i*784+p] > 0.1 {
				onItem += float64(v)
				area++
			}
		}
		if mass == 0 {
			continue
		}
		n++
		massSum += onItem / mass
		areaSum += area / 784
	}
	if n < 40 {
		t.Fatalf("only %d of %d test images classified correctly with a non-zero map", n, len(labels))
	}
	mass, area := massSum/float64(n), areaSum/float64(n)
	t.Logf("%d images: mean Grad-CAM mass on the item %.3f, mean item area %.3f", n, mass, area)
	if mass < area+0.15 {
		t.Errorf("Grad-CAM mass on the item %.3f is not clearly above the item's area fraction %.3f", mass, area)
	}
}
