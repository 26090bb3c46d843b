package metrics

import (
	"context"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// The synthetic model: 32×32×1 images; class 0's probability is the mean
// of the pixels in the region R = rows 8..23, columns 8..23 (256 of the
// 1024 pixels), class 1's is one minus that. Its score is linear in the
// pixels, so the chance-level curves are straight lines.
const (
	side           = 32
	r0, r1         = 8, 24
	regionPixels   = (r1 - r0) * (r1 - r0)
	imagePixels    = side * side
	regionFraction = float64(regionPixels) / imagePixels
)

func inRegion(p int) bool {
	y, x := p/side, p%side
	return y >= r0 && y < r1 && x >= r0 && x < r1
}

// regionScorer is the synthetic model; calls counts its batches.
func regionScorer(calls *int, maxBatch *int) Scorer {
	return func(_ context.Context, b *tensor.Tensor) ([][]float64, error) {
		*calls++
		*maxBatch = max(*maxBatch, b.Shape[0])
		out := make([][]float64, b.Shape[0])
		for i := range out {
			s := 0.0
			for p := range imagePixels {
				if inRegion(p) {
					s += float64(b.F32[i*imagePixels+p])
				}
			}
			s /= regionPixels
			out[i] = []float64{s, 1 - s}
		}
		return out, nil
	}
}

// testImages returns n images that are 1 in R and random in [0, 1)
// elsewhere.
func testImages(n int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(11, 12))
	x := tensor.New(tensor.Float32, n, side, side, 1)
	for i := range n {
		for p := range imagePixels {
			v := float32(r.Float64())
			if inRegion(p) {
				v = 1
			}
			x.F32[i*imagePixels+p] = v
		}
	}
	return x
}

// mapOf returns n identical maps given by f(pixel).
func mapOf(n int, f func(p int) float32) *tensor.Tensor {
	m := tensor.New(tensor.Float32, n, side, side, 1)
	for i := range n {
		for p := range imagePixels {
			m.F32[i*imagePixels+p] = f(p)
		}
	}
	return m
}

func randomMap(n int, seed uint64) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	return mapOf(n, func(int) float32 { return float32(r.Float64()) })
}

func indicator(p int) float32 {
	if inRegion(p) {
		return 1
	}
	return 0
}

func TestChanceLevelCurves(t *testing.T) {
	ctx := context.Background()
	const n = 4
	x := testImages(n)
	var calls, mb int
	s := regionScorer(&calls, &mb)
	for name, m := range map[string]*tensor.Tensor{
		"constant": mapOf(n, func(int) float32 { return 3 }),
		"random":   randomMap(n, 5),
	} {
		for _, insert := range []bool{false, true} {
			f, kind := Deletion, "deletion"
			if insert {
				f, kind = Insertion, "insertion"
			}
			cs, err := f(ctx, s, x, m, make([]int, n), Config{Steps: 32, Seed: 7, BlurSigma: 4})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cs {
				if len(c.X) != 33 || c.X[0] != 0 || c.X[32] != 1 {
					t.Fatalf("%s %s: x %v", name, kind, c.X)
				}
				first, last := c.Scores[0], c.Scores[32]
				if insert && !(first < 0.9 && last == 1) || !insert && (first != 1 || last != 0) {
					t.Errorf("%s %s image %d: end points %g %g", name, kind, i, first, last)
				}
				for k, y := range c.Scores {
					if line := first + (last-first)*c.X[k]; math.Abs(y-line) > 0.1 {
						t.Errorf("%s %s image %d step %d: %g, chance line %g", name, kind, i, k, y, line)
					}
				}
				if d := math.Abs(c.AUC - c.ChanceAUC()); d > 0.03 {
					t.Errorf("%s %s image %d: AUC %.4f, chance %.4f", name, kind, i, c.AUC, c.ChanceAUC())
				}
			}
		}
	}
}

func TestKnownCurves(t *testing.T) {
	ctx := context.Background()
	const n = 2
	x := testImages(n)
	perfect := mapOf(n, indicator)
	worst := mapOf(n, func(p int) float32 { return 1 - indicator(p) })
	// 64 steps of 16 pixels: R goes in or out during the first 16 steps,
	// linearly, so the areas are triangles and rectangles, exactly.
	for _, bs := range []int{0, 1, 7} {
		var calls, mb int
		s := regionScorer(&calls, &mb)
		cfg := Config{Steps: 64, BatchSize: bs, Insertion: Zero}
		for _, c := range []struct {
			name string
			f    func(context.Context, Scorer, *tensor.Tensor, *tensor.Tensor, []int, Config) ([]Curve, error)
			m    *tensor.Tensor
			want float64
		}{
			{"deletion perfect", Deletion, perfect, regionFraction / 2},
			{"deletion worst", Deletion, worst, 1 - regionFraction/2},
			{"insertion perfect", Insertion, perfect, 1 - regionFraction/2},
			{"insertion worst", Insertion, worst, regionFraction / 2},
		} {
			cs, err := c.f(ctx, s, x, c.m, []int{0, 0}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, cv := range cs {
				if math.Abs(cv.AUC-c.want) > 1e-6 {
					t.Errorf("batch %d %s image %d: AUC %.6f, want %.6f", bs, c.name, i, cv.AUC, c.want)
				}
			}
		}
		if want := max(bs, 1); bs > 0 && mb != want {
			t.Errorf("batch size %d: largest scorer batch %d", bs, mb)
		}
		if bs == 0 && mb != 64 {
			t.Errorf("default batch size: largest scorer batch %d, want 64", mb)
		}
	}
	// Blurred insertion: the perfect map still beats chance.
	var calls, mb int
	cs, err := Insertion(ctx, regionScorer(&calls, &mb), x, perfect, []int{0, 0}, Config{Steps: 64, BlurSigma: 4})
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].AUC <= cs[0].ChanceAUC()+0.05 || cs[0].Scores[0] >= 0.99 {
		t.Errorf("blurred insertion with the perfect map: AUC %.4f, chance %.4f, start %.4f", cs[0].AUC, cs[0].ChanceAUC(), cs[0].Scores[0])
	}
	// Class 1 is the complement: deletion of R raises it.
	cs, err = Deletion(ctx, regionScorer(&calls, &mb), x, perfect, []int{1, 1}, Config{Steps: 64})
	if err != nil || math.Abs(cs[0].AUC-(1-regionFraction/2)) > 1e-6 {
		t.Errorf("class 1 deletion: %v %v", cs, err)
	}
}

func TestLayerSpaceMapsAreUpsampled(t *testing.T) {
	// A 4×4 layer map whose middle 2×2 cells cover R (8 px cells): after
	// bilinear upsampling the maximum plateau is inside R, so deletion
	// removes R first.
	m := tensor.New(tensor.Float32, 1, 4, 4, 1)
	for _, p := range []int{5, 6, 9, 10} {
		m.F32[p] = 1
	}
	sal := Saliency(m, 0, side, side)
	if len(sal) != imagePixels || sal[16*side+16] != 1 || sal[0] != 0 {
		t.Fatalf("upsampled: %d values, centre %g, corner %g", len(sal), sal[16*side+16], sal[0])
	}
	var calls, mb int
	cs, err := Deletion(context.Background(), regionScorer(&calls, &mb), testImages(1), m, []int{0}, Config{Steps: 64})
	if err != nil {
		t.Fatal(err)
	}
	if cs[0].AUC > regionFraction/2+0.03 {
		t.Errorf("deletion AUC %.4f for a map on R, want about %.4f", cs[0].AUC, regionFraction/2)
	}
	// Gradient maps with C channels reduce to max |v|.
	g := tensor.FromFloat32([]float32{1, -3, 2, 0.5}, 1, 1, 2, 2)
	if s := Saliency(g, 0, 1, 2); s[0] != 3 || s[1] != 2 {
		t.Errorf("max |v| over channels: %v", s)
	}
}

func TestConfidences(t *testing.T) {
	ctx := context.Background()
	x := testImages(1)
	var calls, mb int
	s := regionScorer(&calls, &mb)
	for _, c := range []struct {
		name     string
		m        *tensor.Tensor
		drop     float64
		increase bool
	}{
		{"all ones", mapOf(1, func(int) float32 { return 1 }), 0, false},
		{"all 7 (normalised to ones)", mapOf(1, func(int) float32 { return 7 }), 0, false},
		{"half", mapOf(1, func(p int) float32 { return 0.5 + 0.5*(1-indicator(p)) }), 50, false},
		{"on the region", mapOf(1, indicator), 0, false},
		{"off the region", mapOf(1, func(p int) float32 { return 1 - indicator(p) }), 100, false},
		{"all zeros", mapOf(1, func(int) float32 { return 0 }), 100, false},
		{"negative off the region", mapOf(1, func(p int) float32 { return 2*indicator(p) - 1 }), 0, false},
	} {
		cs, err := Confidences(ctx, s, x, c.m, []int{0}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(cs[0].Drop-c.drop) > 1e-4 || cs[0].Increase != c.increase || cs[0].Y != 1 {
			t.Errorf("%s: %+v, want drop %g", c.name, cs[0], c.drop)
		}
	}
	// Increase in confidence: class 1 (1 − region mean) rises when the map
	// dims R.
	cs, err := Confidences(ctx, s, x, mapOf(1, func(p int) float32 { return 1 - 0.5*indicator(p) }), []int{1}, Config{})
	if err != nil || !cs[0].Increase || cs[0].Drop != 0 || math.Abs(cs[0].O-0.5) > 1e-6 {
		t.Errorf("increase: %+v %v", cs, err)
	}
	all := []Confidence{{Drop: 10, Increase: true}, {Drop: 30}, {Drop: 20}, {Drop: 0, Increase: true}}
	if AverageDrop(all) != 15 || IncreaseInConfidence(all) != 50 {
		t.Errorf("aggregates: %g %g", AverageDrop(all), IncreaseInConfidence(all))
	}
	if !math.IsNaN(AverageDrop(nil)) {
		t.Error("average drop of nothing is not NaN")
	}
	// Batches of 3 pairs (batch size 6) cover 5 images.
	x5 := testImages(5)
	mb = 0
	cs, err = Confidences(ctx, s, x5, mapOf(5, indicator), make([]int, 5), Config{BatchSize: 6})
	if err != nil || len(cs) != 5 || mb != 6 || cs[4].Y != 1 {
		t.Errorf("batched: %d results, largest batch %d, %v", len(cs), mb, err)
	}
}

func TestPointingGame(t *testing.T) {
	// A 10×5 map of a 100×50 image: cell (7, 2) covers x 70..80, y 20..30.
	sal := make([]float32, 50)
	sal[2*10+7] = 5
	size := image.Pt(100, 50)
	box := Box{60, 10, 90, 40}
	for _, c := range []struct {
		name    string
		regions []Region
		tol     float64
		hit     bool
	}{
		{"peak in the box", []Region{box}, 0, true},
		{"peak outside", []Region{Box{0, 0, 30, 50}}, 0, false},
		{"one of two boxes", []Region{Box{0, 0, 30, 50}, box}, 0, true},
		{"10 px away, tolerance 15", []Region{Box{85, 0, 100, 50}}, 15, true},
		{"10 px away, tolerance 5", []Region{Box{85, 0, 100, 50}}, 5, false},
	} {
		pt, err := PointingGame(sal, 5, 10, size, c.regions, c.tol)
		if err != nil {
			t.Fatal(err)
		}
		if pt.X != 75 || pt.Y != 25 || pt.Hit != c.hit {
			t.Errorf("%s: %+v", c.name, pt)
		}
	}
	// A mask given as an image: object pixels are non-black.
	img := image.NewGray(image.Rect(0, 0, 100, 50))
	img.Pix[25*100+75] = 255
	pt, err := PointingGame(sal, 5, 10, size, []Region{MaskFromImage(img)}, 0)
	if err != nil || !pt.Hit {
		t.Errorf("mask hit: %+v %v", pt, err)
	}
	img.Pix[25*100+75] = 0
	img.Pix[25*100+95] = 1
	pt, err = PointingGame(sal, 5, 10, size, []Region{MaskFromImage(img)}, 15)
	if err != nil || pt.Hit || math.Abs(pt.Distance-20) > 1e-9 {
		t.Errorf("mask miss: %+v %v", pt, err)
	}
	if _, err := PointingGame(sal, 5, 10, size, nil, 0); err == nil {
		t.Error("no regions accepted")
	}
	if _, err := PointingGame(sal, 5, 9, size, []Region{box}, 0); err == nil {
		t.Error("wrong size accepted")
	}
	// Through Evaluate: a map peaked in the box scores 1.0, outside 0.0.
	ctx := context.Background()
	var calls, mb int
	x := testImages(2)
	for _, c := range []struct {
		m    *tensor.Tensor
		want float64
	}{{mapOf(2, indicator), 1}, {mapOf(2, func(p int) float32 { return 1 - indicator(p) }), 0}} {
		rep, err := Evaluate(ctx, regionScorer(&calls, &mb), &Input{Images: x, Maps: c.m, Classes: []int{0, 0},
			Regions: [][]Region{{Box{16, 16, 48, 48}}, {Box{16, 16, 48, 48}}}, Sizes: []image.Point{{64, 64}, {64, 64}}}, Config{Steps: 16})
		if err != nil {
			t.Fatal(err)
		}
		if rep.PointingAccuracy() != c.want || rep.PointingImages != 2 {
			t.Errorf("pointing game %g over %d images, want %g", rep.PointingAccuracy(), rep.PointingImages, c.want)
		}
	}
}

// TestGaussianBlur compares the separable blur with a direct 2-D
// convolution (edge pixels repeated).
func TestGaussianBlur(t *testing.T) {
	const h, w, c, sigma = 7, 9, 2, 1.3
	r := rand.New(rand.NewPCG(1, 1))
	img := make([]float32, h*w*c)
	for i := range img {
		img[i] = float32(r.Float64())
	}
	got := GaussianBlur(img, h, w, c, sigma)
	rad := 4 // ceil(3·1.3)
	for y := range h {
		for x := range w {
			for ch := range c {
				num, den := 0.0, 0.0
				for dy := -rad; dy <= rad; dy++ {
					for dx := -rad; dx <= rad; dx++ {
						k := math.Exp(-float64(dx*dx+dy*dy) / (2 * sigma * sigma))
						yy, xx := min(max(y+dy, 0), h-1), min(max(x+dx, 0), w-1)
						num += k * float64(img[(yy*w+xx)*c+ch])
						den += k
					}
				}
				if d := math.Abs(float64(got[(y*w+x)*c+ch]) - num/den); d > 1e-5 {
					t.Fatalf("(%d,%d,%d): %g, want %g", y, x, ch, got[(y*w+x)*c+ch], num/den)
				}
			}
		}
	}
}

func TestParseBoxes(t *testing.T) {
	in := "# comment\nimage,x0,y0,x1,y1\ncat.png, 1, 2, 30.5, 40\ncat.png,5,5,6,6\n\ndog,0,0,10,10\n/data/imgs/bird.jpg,1,1,2,2\n"
	b, err := ParseBoxes(strings.NewReader(in), "boxes.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.For("some/dir/cat.png"); len(got) != 2 || got[0] != (Box{1, 2, 30.5, 40}) {
		t.Errorf("cat: %v", got)
	}
	if got := b.For("x/dog.jpg"); len(got) != 1 {
		t.Errorf("dog by stem: %v", got)
	}
	if got := b.For("/data/imgs/bird.jpg"); len(got) != 1 || b.For("other/bird.jpg") != nil {
		t.Errorf("bird by full path only: %v", got)
	}
	if len(b.Regions("none.png")) != 0 || len(b.Regions("cat.png")) != 2 {
		t.Error("Regions")
	}
	for _, c := range []struct{ in, want string }{
		{"a.png,1,2,3\n", "boxes f.csv:1: 4 fields, want 5"},
		{"a.png,1,2,3,4\nb.png,1,x,3,4\n", "boxes f.csv:2: field y0 \"x\" is not a finite number"},
		{"a.png,1,2,3,NaN\n", "field y1"},
		{"a.png,5,2,3,4\n", "f.csv:1: box (5,2)-(3,4) is empty"},
		{",1,2,3,4\n", "empty image name"},
	} {
		if _, err := ParseBoxes(strings.NewReader(c.in), "f.csv"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := ReadBoxes("/nonexistent/boxes.csv"); err == nil || !strings.Contains(err.Error(), "boxes.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEvaluateWrite(t *testing.T) {
	ctx := context.Background()
	var calls, mb int
	x := testImages(2)
	rep, err := Evaluate(ctx, regionScorer(&calls, &mb), &Input{Images: x, Maps: mapOf(2, indicator), Classes: []int{0, 0},
		Regions: [][]Region{{Box{8, 8, 24, 24}}, nil}}, Config{Steps: 64, Insertion: Zero})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.DeletionAUC-regionFraction/2) > 1e-6 || math.Abs(rep.InsertionAUC-(1-regionFraction/2)) > 1e-6 || rep.AverageDrop != 0 ||
		rep.IncreaseInConfidence != 0 || rep.PointingImages != 1 || rep.PointingHits != 1 || rep.Images[1].Pointing != nil {
		t.Fatalf("report: %+v", rep)
	}
	dir := t.TempDir()
	w, err := tbwriter.NewWriter(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(w, 3, "gradcam"); err != nil {
		t.Fatal(err)
	}
	rep.PointingImages = 0
	if err := rep.Write(w, 3, "random"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ld, err := tbwriter.ReadLogdir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, v := range ld.Runs[0].Values {
		got[v.Tag] = v.Scalar
	}
	want := map[string]float64{
		"metrics/gradcam/deletion_auc": regionFraction / 2, "metrics/gradcam/insertion_auc": 1 - regionFraction/2,
		"metrics/gradcam/average_drop": 0, "metrics/gradcam/increase_in_confidence": 0, "metrics/gradcam/pointing_game": 1,
		"metrics/random/deletion_auc": regionFraction / 2, "metrics/random/insertion_auc": 1 - regionFraction/2,
		"metrics/random/average_drop": 0, "metrics/random/increase_in_confidence": 0,
	}
	if len(got) != len(want) {
		t.Errorf("tags %v", got)
	}
	for tag, v := range want {
		if g, ok := got[tag]; !ok || math.Abs(g-v) > 1e-6 {
			t.Errorf("%s = %g (present %v), want %g", tag, g, ok, v)
		}
	}
	rep.PointingImages = 1
	md := Markdown([]string{"gradcam"}, []*Report{rep})
	if !strings.Contains(md, "| gradcam | 0.1250 | 0.8750 | 0.00 | 0.0 | 1.000 (1/1) |") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	var calls, mb int
	s := regionScorer(&calls, &mb)
	x := testImages(2)
	m := mapOf(2, indicator)
	for _, c := range []struct {
		images, maps *tensor.Tensor
		classes      []int
		cfg          Config
		want         string
	}{
		{nil, m, []int{0, 0}, Config{}, "images are nil"},
		{x, mapOf(1, indicator), []int{0, 0}, Config{}, "maps are float32(1, 32, 32, 1), want a [2, h, w, 1]"},
		{x, m, []int{0}, Config{}, "1 classes for 2 images"},
		{x, m, []int{0, 5}, Config{}, "class 5 out of range: the scorer gives 2 classes"},
		{x, m, []int{0, -1}, Config{}, "image 1: class -1 is negative"},
		{x, m, []int{0, 0}, Config{Steps: -1}, "steps -1"},
		{x, m, []int{0, 0}, Config{BatchSize: 1 << 20}, "batch size"},
	} {
		_, err := Deletion(ctx, s, c.images, c.maps, c.classes, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
	if _, err := Evaluate(ctx, s, &Input{Images: x, Maps: m, Classes: []int{0, 0}, Regions: [][]Region{nil}}, Config{}); err == nil || !strings.Contains(err.Error(), "1 region lists for 2 images") {
		t.Errorf("regions: %v", err)
	}
}

// TestSummarizeMergesBatches checks that the reports of two batches,
// merged with Summarize, equal the report of one batch holding both.
func TestSummarizeMergesBatches(t *testing.T) {
	ctx := context.Background()
	var calls, mb int
	s := regionScorer(&calls, &mb)
	x := testImages(3)
	maps := randomMap(3, 5)
	// Image 1 gets the informative map, so the per-image values differ.
	copy(maps.F32[imagePixels:2*imagePixels], mapOf(1, indicator).F32)
	// Image 0's box is the whole image (a hit wherever the maximum is),
	// image 1's a corner away from R (a miss), image 2 has none.
	regions := [][]Region{{Box{0, 0, side, side}}, {Box{0, 0, 4, 4}}, nil}
	cfg := Config{Steps: 32, Seed: 3}
	whole, err := Evaluate(ctx, s, &Input{Images: x, Maps: maps, Classes: []int{0, 0, 1}, Regions: regions}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	part := func(lo, hi int) *Report {
		sub := func(t0 *tensor.Tensor) *tensor.Tensor {
			return tensor.FromFloat32(t0.F32[lo*imagePixels:hi*imagePixels], hi-lo, side, side, 1)
		}
		c := cfg
		c.Seed += uint64(lo)
		r, err := Evaluate(ctx, s, &Input{Images: sub(x), Maps: sub(maps), Classes: []int{0, 0, 1}[lo:hi], Regions: regions[lo:hi]}, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := part(0, 1), part(1, 3)
	got := Summarize(append(a.Images, b.Images...))
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(y)) }
	if !near(got.DeletionAUC, whole.DeletionAUC) || !near(got.InsertionAUC, whole.InsertionAUC) ||
		!near(got.AverageDrop, whole.AverageDrop) || !near(got.IncreaseInConfidence, whole.IncreaseInConfidence) ||
		got.PointingHits != whole.PointingHits || got.PointingImages != whole.PointingImages || len(got.Images) != 3 {
		t.Fatalf("merged %+v\nwhole  %+v", got, whole)
	}
	if whole.PointingImages != 2 || whole.PointingHits != 1 {
		t.Errorf("pointing %d/%d, want 1/2", whole.PointingHits, whole.PointingImages)
	}
	if near(a.DeletionAUC, b.DeletionAUC) {
		t.Errorf("the two parts score alike (%g); the test needs them to differ", a.DeletionAUC)
	}
}
