package explain_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/imageio"
	"github.com/tbviz/tbviz/vizhooks/render"
)

const cifarLayer = "sequential/conv2d_2/Relu"

type fixture struct {
	dir    string
	m      *tfmodel.Model
	eng    engine.Engine
	images []string // chelsea, coffee, rocket
	labels []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	model, images, labelFile, err := cifar10.Extract(filepath.Join(dir, "ex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(labelFile)
	if err != nil {
		t.Fatal(err)
	}
	// Small copies of the example photos keep the panels (and the test)
	// small.
	small := filepath.Join(dir, "small")
	if err := os.MkdirAll(small, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, p := range images {
		img, err := imageio.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := image.NewRGBA(image.Rect(0, 0, 48, 32))
		xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), xdraw.Src, nil)
		var buf bytes.Buffer
		if err := png.Encode(&buf, dst); err != nil {
			t.Fatal(err)
		}
		images[i] = filepath.Join(small, strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))+".png")
		if err := os.WriteFile(images[i], buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := tfmodel.Load(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return &fixture{dir: dir, m: m, eng: eng, images: images, labels: strings.Fields(string(b))}
}

// run explains paths into a fresh writer on logdir and returns the result
// and the logdir read back.
func (f *fixture) run(t *testing.T, logdir string, paths []string, cfg explain.Config) (*explain.Result, *tbwriter.Run, error) {
	t.Helper()
	w, err := tbwriter.NewWriter(logdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, runErr := explain.Run(context.Background(), f.m, f.eng, paths, w, cfg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	return res, ld.Run("."), runErr
}

// probs computes the model's class probabilities for paths independently
// of package explain: the signature output (logits for this model) through
// a naive softmax.
func (f *fixture) probs(t *testing.T, paths []string) [][]float64 {
	t.Helper()
	in, out := f.m.Signature.Inputs[0], f.m.Signature.Outputs[0]
	batch, err := imageio.LoadBatch(paths, 32, 32, 3, imageio.Range01)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.eng.Run(context.Background(), map[string]*tensor.Tensor{in.Tensor: batch.Tensor}, []string{out.Tensor})
	if err != nil {
		t.Fatal(err)
	}
	k := res[0].Shape[1]
	var p [][]float64
	for i := range res[0].Shape[0] {
		row := make([]float64, k)
		sum := 0.0
		for j := range k {
			row[j] = math.Exp(res[0].Float(i*k + j))
			sum += row[j]
		}
		for j := range row {
			row[j] /= sum
		}
		p = append(p, row)
	}
	return p
}

// tagCounts counts the values of each tag and checks their step.
func tagCounts(t *testing.T, run *tbwriter.Run, step int64) map[string]int {
	t.Helper()
	got := map[string]int{}
	if run == nil {
		t.Fatal("no run in the logdir")
	}
	for _, v := range run.Values {
		got[v.Tag]++
		if v.Step != step {
			t.Errorf("%s at step %d, want %d", v.Tag, v.Step, step)
		}
	}
	return got
}

// readNPY reads a float32 .npy file written by explain (the format is
// checked against numpy itself in TestRunWritesEveryTag).
func readNPY(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		t.Fatalf("%s: not a .npy file", path)
	}
	data := b[10+int(binary.LittleEndian.Uint16(b[8:10])):]
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out
}

// TestRunTopK explains the top-3 classes of each image: one result per
// (image, target) with the ranks and probabilities of an independent
// softmax, tags by rank, and each rank's map equal to the map computed for
// that class alone (so the expanded batch keeps images and classes
// aligned across chunk boundaries).
func TestRunTopK(t *testing.T) {
	f := newFixture(t)
	raw := filepath.Join(f.dir, "raw")
	var calls [][2]int
	cfg := explain.Config{Methods: []string{"gradcam", "layercam"}, Labels: f.labels, Targets: []explain.Choice{{Top: 3}}, Step: 2, RawOut: raw,
		Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }}
	cfg.CAM.BatchSize = 2 // 9 pairs in chunks of 2
	res, run, err := f.run(t, filepath.Join(f.dir, "logs"), f.images, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 0 || len(res.Images) != 9 {
		t.Fatalf("got %d results, errors %v; want 9 and none", len(res.Images), res.Errors)
	}
	probs := f.probs(t, f.images)
	got := tagCounts(t, run, 2)
	for i, r := range res.Images {
		img, rank := i/3, i%3+1
		name := []string{"chelsea", "coffee", "rocket"}[img]
		p := probs[img]
		order := make([]int, len(p))
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(a, b int) int {
			if p[a] > p[b] {
				return -1
			} else if p[a] < p[b] {
				return 1
			}
			return 0
		})
		want := explain.Target{Class: order[rank-1], Label: f.labels[order[rank-1]], Score: p[order[rank-1]], Rank: rank}
		if r.Image != f.images[img] || r.Target.Class != want.Class || r.Target.Label != want.Label || r.Target.Rank != rank || math.Abs(r.Target.Score-want.Score) > 1e-5 {
			t.Errorf("result %d = %+v, want image %s target %+v", i, r, f.images[img], want)
		}
		suffix := fmt.Sprintf("%s/top%d", name, rank)
		if got["prob/"+suffix] != 1 {
			t.Errorf("prob/%s written %d times", suffix, got["prob/"+suffix])
		}
		for _, m := range r.Maps {
			if m.Tag != m.Method+"/"+cifarLayer+"/"+suffix || got[m.Tag] != 1 {
				t.Errorf("map tag %s (written %d times), want .../%s once", m.Tag, got[m.Tag], suffix)
			}
		}
		if len(r.Maps) != 2 {
			t.Errorf("result %d has %d maps, want 2", i, len(r.Maps))
		}
	}
	if len(got) != 9*2+9+1 {
		t.Errorf("%d tags, want %d: %v", len(got), 9*2+9+1, got)
	}
	if last := calls[len(calls)-1]; last != [2]int{18, 18} || calls[0] != [2]int{0, 18} {
		t.Errorf("progress calls %v, want from 0/18 to 18/18", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Errorf("progress went back: %v", calls)
		}
	}
	// Each rank's map equals the map of that class explained on its own.
	for _, r := range res.Images[3:6] { // coffee's top 3
		single := filepath.Join(f.dir, fmt.Sprintf("single%d", r.Target.Rank))
		one, _, err := f.run(t, filepath.Join(f.dir, "logs1", fmt.Sprint(r.Target.Rank)), []string{f.images[1]}, explain.Config{Methods: []string{"gradcam", "layercam"}, Targets: []explain.Choice{{Class: r.Target.Class}}, RawOut: single})
		if err != nil {
			t.Fatal(err)
		}
		if one.Images[0].Maps[0].Tag != "gradcam/"+cifarLayer+"/coffee" {
			t.Errorf("single target tag %s, want the plain .../coffee", one.Images[0].Maps[0].Tag)
		}
		for k := range 2 {
			a, b := readNPY(t, r.Maps[k].Raw), readNPY(t, one.Images[0].Maps[k].Raw)
			if !slices.Equal(a, b) || len(a) != 16 {
				t.Errorf("%s rank %d (class %d): top-k map %v differs from the single-class map %v", r.Maps[k].Method, r.Target.Rank, r.Target.Class, a, b)
			}
		}
	}
}

// TestRunPerImageTargets gives one target per path, with an undecodable
// file in the middle and a class out of range: those two are reported by
// name, the others are written with their own targets.
func TestRunPerImageTargets(t *testing.T) {
	f := newFixture(t)
	bad := filepath.Join(f.dir, "broken.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{f.images[0], bad, f.images[1], f.images[2]}
	targets := []explain.Choice{{Class: 3}, {Class: 5}, {Class: 12}, {Class: 8}}
	res, run, err := f.run(t, filepath.Join(f.dir, "logs"), paths, explain.Config{Targets: targets, Labels: f.labels})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 2 || !strings.Contains(res.Errors[0].Error(), "broken.png") ||
		!strings.Contains(res.Errors[1].Error(), "coffee.png: class 12 out of range: the model has 10 classes") {
		t.Fatalf("errors = %v, want broken.png and coffee's class 12", res.Errors)
	}
	if len(res.Images) != 2 || res.Images[0].Target.Class != 3 || res.Images[0].Target.Label != "cat" || res.Images[1].Target.Class != 8 || !strings.HasSuffix(res.Images[1].Image, "rocket.png") {
		t.Fatalf("results %+v, want chelsea as class 3 and rocket as class 8", res.Images)
	}
	probs := f.probs(t, []string{f.images[0], f.images[2]})
	if math.Abs(res.Images[0].Target.Score-probs[0][3]) > 1e-5 || math.Abs(res.Images[1].Target.Score-probs[1][8]) > 1e-5 {
		t.Errorf("scores %g %g, want %g %g", res.Images[0].Target.Score, res.Images[1].Target.Score, probs[0][3], probs[1][8])
	}
	got := tagCounts(t, run, 0)
	want := []string{"gradcam/" + cifarLayer + "/chelsea", "gradcam/" + cifarLayer + "/rocket", "prob/chelsea", "prob/rocket", "summary"}
	if len(got) != len(want) {
		t.Errorf("tags %v, want %v", got, want)
	}
	for _, tag := range want {
		if got[tag] != 1 {
			t.Errorf("tag %s written %d times, want once", tag, got[tag])
		}
	}
	for _, v := range run.Values {
		if v.Tag == "summary" && (!strings.Contains(v.Text, "class 12 out of range") || !strings.Contains(v.Text, "broken.png")) {
			t.Errorf("summary does not list the errors:\n%s", v.Text)
		}
	}
	// Nothing explainable: an error, not an empty success.
	_, _, err = f.run(t, filepath.Join(f.dir, "logs2"), f.images[:1], explain.Config{Targets: []explain.Choice{{Class: 10}}})
	if err == nil || !strings.Contains(err.Error(), "class 10 out of range") {
		t.Errorf("all targets out of range: err = %v", err)
	}
	_, _, err = f.run(t, filepath.Join(f.dir, "logs3"), f.images[:1], explain.Config{Targets: []explain.Choice{{Top: 11}}})
	if err == nil || !strings.Contains(err.Error(), "top11: the model has only 10 classes") {
		t.Errorf("top11: err = %v", err)
	}
	_, _, err = f.run(t, filepath.Join(f.dir, "logs4"), f.images, explain.Config{Targets: targets[:2]})
	if err == nil || !strings.Contains(err.Error(), "2 targets for 3 images") {
		t.Errorf("count mismatch: err = %v", err)
	}
}

// TestRunOutputsAndLayers checks the choice of the signature output and
// the errors for outputs and layers that cannot be explained.
func TestRunOutputsAndLayers(t *testing.T) {
	f := newFixture(t)
	logits := f.m.Signature.Outputs[0]
	hidden := tfmodel.TensorInfo{Key: "hidden", Tensor: "sequential/dense/Relu:0", DType: tensor.Float32, Shape: []int{-1, 64}}
	conv := tfmodel.TensorInfo{Key: "conv", Tensor: cifarLayer + ":0", DType: tensor.Float32, Shape: []int{-1, 4, 4, 64}}
	img := f.images[:1]
	logdir := func(name string) string { return filepath.Join(f.dir, name) }

	f.m.Signature.Outputs = []tfmodel.TensorInfo{conv, logits, hidden}
	_, _, err := f.run(t, logdir("a"), img, explain.Config{})
	if err == nil || !strings.Contains(err.Error(), "choose one by key") || !strings.Contains(err.Error(), "dense_1 (tensor StatefulPartitionedCall:0, float32 (?, 10))") || !strings.Contains(err.Error(), "hidden (") {
		t.Errorf("two float 2-D outputs: err = %v", err)
	}
	res, run, err := f.run(t, logdir("b"), img, explain.Config{Output: "hidden"})
	if err != nil || res.Output != "hidden" || res.Score != "sequential/dense/Relu:0" || len(res.Images) != 1 || tagCounts(t, run, 0)["gradcam/"+cifarLayer+"/chelsea"] != 1 {
		t.Errorf("Output hidden: %+v, %v", res, err)
	}
	if _, _, err := f.run(t, logdir("c"), img, explain.Config{Output: "nope"}); err == nil || !strings.Contains(err.Error(), `no output "nope"`) || !strings.Contains(err.Error(), "conv (") {
		t.Errorf("unknown output: err = %v", err)
	}
	f.m.Signature.Outputs = []tfmodel.TensorInfo{conv, logits}
	res, _, err = f.run(t, logdir("d"), img, explain.Config{})
	if err != nil || res.Output != "dense_1" {
		t.Errorf("one float 2-D output among two: %+v, %v", res, err)
	}
	if _, _, err := f.run(t, logdir("e"), img, explain.Config{Output: "conv"}); err == nil || !strings.Contains(err.Error(), "need [batch, classes]") {
		t.Errorf("4-D output: err = %v", err)
	}
	f.m.Signature.Outputs = []tfmodel.TensorInfo{logits}

	_, _, err = f.run(t, logdir("f"), img, explain.Config{Layer: "sequential/dense/Relu"})
	if err == nil || !strings.Contains(err.Error(), "not a spatial") || !strings.Contains(err.Error(), "float32 (1, 64)") || !strings.Contains(err.Error(), cifarLayer) {
		t.Errorf("dense layer: err = %v", err)
	}
	res, _, err = f.run(t, logdir("g"), img, explain.Config{Layer: "sequential/conv2d_2/BiasAdd"})
	if err != nil || res.Layer != "sequential/conv2d_2/BiasAdd" {
		t.Errorf("spatial tensor outside the layer list: %+v, %v", res, err)
	}
	if _, _, err := f.run(t, logdir("h"), img, explain.Config{Layer: "nosuchlayer"}); err == nil || !strings.Contains(err.Error(), "nosuchlayer") {
		t.Errorf("unknown layer: err = %v", err)
	}
}

// TestRunScales checks each normalisation: the range used (against the
// raw maps read back), the remembered run range across steps, and the
// rendered heatmap against a naive normalisation of the raw map.
func TestRunScales(t *testing.T) {
	f := newFixture(t)
	methods := []string{"gradcam", "layercam"}
	rawRange := func(res *explain.Result, method string) [2]float64 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range res.Images {
			for _, m := range r.Maps {
				if m.Method == method {
					for _, v := range readNPY(t, m.Raw) {
						lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
					}
				}
			}
		}
		return [2]float64{lo, hi}
	}
	// batch: the range of this step's maps.
	res, _, err := f.run(t, filepath.Join(f.dir, "batch"), f.images, explain.Config{Methods: methods, Scale: explain.Scale{Mode: explain.ScaleBatch}, RawOut: filepath.Join(f.dir, "rb")})
	if err != nil {
		t.Fatal(err)
	}
	for _, meth := range methods {
		if got, want := res.Scales[meth], rawRange(res, meth); got != want || !(want[1] > want[0]) {
			t.Errorf("batch scale of %s = %v, want %v", meth, got, want)
		}
	}
	// run: step 0 on two images sets the range, step 1 on the third
	// reuses it; the state file lives in the run directory.
	logdir := filepath.Join(f.dir, "run")
	cfg := explain.Config{Methods: methods, Scale: explain.Scale{Mode: explain.ScaleRun}, RawOut: filepath.Join(f.dir, "r0")}
	res0, _, err := f.run(t, logdir, f.images[:2], cfg)
	if err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(logdir, explain.ScaleFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Step, cfg.RawOut, cfg.PNGOut = 1, filepath.Join(f.dir, "r1"), filepath.Join(f.dir, "p1")
	res1, _, err := f.run(t, logdir, f.images[2:], cfg)
	if err != nil {
		t.Fatal(err)
	}
	state1, _ := os.ReadFile(filepath.Join(logdir, explain.ScaleFile))
	for _, meth := range methods {
		want := rawRange(res0, meth)
		if res0.Scales[meth] != want || res1.Scales[meth] != want {
			t.Errorf("run scale of %s: step 0 %v, step 1 %v, want both %v", meth, res0.Scales[meth], res1.Scales[meth], want)
		}
		if rawRange(res1, meth) == want {
			t.Errorf("%s: step 1's own range equals step 0's; the test would not see a reused range", meth)
		}
	}
	if !bytes.Equal(state, state1) || !strings.Contains(string(state), `"gradcam/`+cifarLayer+`"`) {
		t.Errorf("state changed or lacks gradcam:\n%s\n%s", state, state1)
	}
	checkHeat(t, res1.Images[0], "gradcam", res1.Scales["gradcam"], f.dir)
	// fixed: the given range, whatever the maps.
	fixed := explain.Scale{Mode: explain.ScaleFixed, Min: 0, Max: 0.2}
	res, _, err = f.run(t, filepath.Join(f.dir, "fixed"), f.images[:1], explain.Config{Scale: fixed, RawOut: filepath.Join(f.dir, "rf"), PNGOut: filepath.Join(f.dir, "pf")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scales["gradcam"] != [2]float64{0, 0.2} {
		t.Errorf("fixed scale = %v", res.Scales)
	}
	checkHeat(t, res.Images[0], "gradcam", [2]float64{0, 0.2}, f.dir)
	// A corrupt state file is an error naming it, not a silent reset.
	if err := os.WriteFile(filepath.Join(logdir, explain.ScaleFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.run(t, logdir, f.images[:1], cfg); err == nil || !strings.Contains(err.Error(), explain.ScaleFile) {
		t.Errorf("corrupt state: err = %v", err)
	}
}

// checkHeat compares the heatmap cell of a written panel with the raw map
// upsampled, normalised naively with sc and colour-mapped with jet.
func checkHeat(t *testing.T, r explain.ImageResult, method string, sc [2]float64, dir string) {
	t.Helper()
	var m explain.Map
	for _, x := range r.Maps {
		if x.Method == method {
			m = x
		}
	}
	raw := readNPY(t, m.Raw)
	pngPath := filepath.Join(filepath.Dir(filepath.Dir(m.Raw)), "p"+strings.TrimPrefix(filepath.Base(filepath.Dir(m.Raw)), "r"), strings.TrimSuffix(filepath.Base(m.Raw), ".npy")+".png")
	b, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	panel, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	const H, W = 32, 48 // the fixture's images
	up := render.Upsample(raw, 4, 4, H, W, nil)
	norm := make([]float32, len(up))
	for i, v := range up {
		x := (float64(v) - sc[0]) / (sc[1] - sc[0])
		norm[i] = float32(math.Max(0, math.Min(1, x)))
	}
	want := render.Heatmap(norm, H, W, render.Jet)
	cell := image.NewRGBA(image.Rect(0, 0, W, H))
	l := render.GridLayout([]image.Image{cell, cell, cell}, []string{"input", "x", "overlay"}, 3, render.Options{})
	at := l.Cell(1).Min
	bad, clipped := 0, 0
	for y := range H {
		for x := range W {
			r1, g1, b1, _ := panel.At(at.X+x, at.Y+y).RGBA()
			c := want.RGBAAt(x, y)
			if d := max(absDiff(r1>>8, uint32(c.R)), absDiff(g1>>8, uint32(c.G)), absDiff(b1>>8, uint32(c.B))); d > 2 {
				bad++
			}
			if norm[y*W+x] == 1 {
				clipped++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d heatmap pixels differ from the naive normalisation by %v", pngPath, bad, H*W, sc)
	}
	t.Logf("%s: %d pixels clipped at the top of %v", filepath.Base(pngPath), clipped, sc)
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestRunAllSkipsInapplicable: CAM needs global average pooling, which the
// example model lacks. Named explicitly it is an error; under "all" it is
// skipped and the other methods are written.
func TestRunAllSkipsInapplicable(t *testing.T) {
	f := newFixture(t)
	res, _, err := f.run(t, filepath.Join(f.dir, "a"), f.images[:1], explain.Config{Methods: []string{"cam", "gradcam"}})
	if err != nil || len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "cam: ") || len(res.Skipped) != 0 || len(res.Images[0].Maps) != 1 {
		t.Fatalf("explicit cam: %+v, %v", res, err)
	}
	cfg := explain.Config{Methods: []string{"all"}}
	cfg.CAM.MaxChannels, cfg.CAM.SSSamples, cfg.CAM.Samples, cfg.CAM.ISSteps = 2, 2, 2, 2
	res, run, err := f.run(t, filepath.Join(f.dir, "b"), f.images[:1], cfg)
	if err != nil || len(res.Errors) != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Error(), "cam: ") {
		t.Fatalf("all: errors %v, skipped %v, %v", res.Errors, res.Skipped, err)
	}
	if n := len(res.Images[0].Maps); n < 10 {
		t.Errorf("all wrote %d maps", n)
	}
	for _, v := range run.Values {
		if v.Tag == "summary" && !strings.Contains(v.Text, "- skipped: cam: ") {
			t.Errorf("summary does not list the skipped method:\n%s", v.Text)
		}
	}
}
