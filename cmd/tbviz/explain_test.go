package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tbwriter"
)

// smallExample extracts the embedded example with 40×30 copies of its
// photos (small panels keep the tests fast).
func smallExample(t *testing.T) (model string, images []string, labels string) {
	t.Helper()
	dir := t.TempDir()
	model, images, labels, err := cifar10.Extract(filepath.Join(dir, "ex"))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"chelsea", "coffee", "rocket"} {
		img := image.NewRGBA(image.Rect(0, 0, 40, 30))
		for y := range 30 {
			for x := range 40 {
				img.Set(x, y, color.RGBA{uint8(60 * i), uint8(6 * x), uint8(8 * y), 255})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		images[i] = filepath.Join(dir, name+".png")
		if err := os.WriteFile(images[i], b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return model, images, labels
}

type explainJSON struct {
	Logdir      string                `json:"logdir"`
	Run         string                `json:"run"`
	Layer       string                `json:"layer"`
	Output      string                `json:"output"`
	Score       string                `json:"score"`
	Scales      map[string][2]float64 `json:"scales"`
	TensorBoard string                `json:"tensorboard"`
	Images      []struct {
		Image  string `json:"image"`
		Target struct {
			Class int     `json:"class"`
			Label string  `json:"label"`
			Score float64 `json:"score"`
			Rank  int     `json:"rank"`
		} `json:"target"`
		Maps []struct {
			Method, Layer, Tag, Raw string
		} `json:"maps"`
	} `json:"images"`
}

func decodeExplain(t *testing.T, out string) explainJSON {
	t.Helper()
	var r explainJSON
	start, end := strings.Index(out, "{"), strings.LastIndex(out, "}")
	if start < 0 || end < start {
		t.Fatalf("no JSON in %s", out)
	}
	if err := json.Unmarshal([]byte(out[start:end+1]), &r); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	return r
}

func TestExplainTopKAndRunDir(t *testing.T) {
	model, images, labels := smallExample(t)
	logdir := filepath.Join(t.TempDir(), "logs")
	out, err := runCLI(t, "explain", "--model", model, "--images", strings.Join(images[:2], ","), "--logdir", logdir, "--run", "r1",
		"--class", "top2", "--labels", labels, "--methods", "gradcam,layercam", "--scale", "batch", "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	r := decodeExplain(t, out)
	if len(r.Images) != 4 || r.Output != "dense_1" || r.Layer != "sequential/conv2d_2/Relu" || r.TensorBoard != "tensorboard --logdir "+logdir || len(r.Scales) != 2 {
		t.Fatalf("explain --json: %+v", r)
	}
	for i, im := range r.Images {
		name := []string{"chelsea", "coffee"}[i/2]
		rank := i%2 + 1
		if im.Target.Rank != rank || im.Target.Label == "" || len(im.Maps) != 2 || im.Maps[0].Tag != "gradcam/sequential/conv2d_2/Relu/"+name+"/top"+string(rune('0'+rank)) {
			t.Errorf("entry %d: %+v", i, im)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress bar drawn on a non-terminal:\n%q", out)
	}
	// Only the run directory holds an event file.
	entries, err := os.ReadDir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "r1" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("logdir root holds %v, want only r1", names)
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.Runs) != 1 || ld.Runs[0].Name != "r1" || len(ld.Runs[0].Files) != 1 {
		t.Errorf("runs %+v, want only r1 with one file", ld.Runs)
	}
	if _, err := runCLI(t, "explain", "--model", model, "--images", images[0], "--logdir", logdir, "--run", "../out"); err == nil || !strings.Contains(err.Error(), "inside the logdir") {
		t.Errorf("--run ../out: %v", err)
	}
}

// TestExplainSamplesHint writes 11 earlier steps of a tag into a run, then
// explains one more step into it: the command line printed asks
// TensorBoard to keep 20 images per tag. A run with one step gets the
// plain command.
func TestExplainSamplesHint(t *testing.T) {
	model, images, _ := smallExample(t)
	logdir := t.TempDir()
	out, err := runCLI(t, "explain", "--model", model, "--images", images[0], "--logdir", logdir, "--run", "fresh")
	if err != nil {
		t.Fatal(err, out)
	}
	noRootEvents(t, logdir)
	if !strings.Contains(out, "view with: tensorboard --logdir "+logdir+"\n") {
		t.Errorf("fresh run:\n%s", out)
	}
	w, err := tbwriter.NewWriter(filepath.Join(logdir, "train"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tile := image.NewGray(image.Rect(0, 0, 2, 2))
	for step := range int64(11) {
		if err := w.Image("gradcam/sequential/conv2d_2/Relu/chelsea", step, tile); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "explain", "--model", model, "--images", images[0], "--logdir", logdir, "--run", "train", "--step", "11")
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, "view with: tensorboard --logdir "+logdir+" --samples_per_plugin images=20\n") ||
		!strings.Contains(out, "gradcam/sequential/conv2d_2/Relu/chelsea of run train has 12 steps") {
		t.Errorf("run with 12 steps:\n%s", out)
	}
}

func TestExplainTargetsAndErrors(t *testing.T) {
	model, images, labels := smallExample(t)
	dir := t.TempDir()
	logdir := filepath.Join(dir, "logs")
	csv := filepath.Join(filepath.Dir(images[0]), "targets.csv")
	if err := os.WriteFile(csv, []byte("image,class\nchelsea.png,cat\nrocket.png,top1\ncoffee.png,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "explain", "--model", model, "--targets", csv, "--labels", labels, "--logdir", logdir, "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	r := decodeExplain(t, out)
	if len(r.Images) != 3 || r.Images[0].Target.Label != "cat" || !strings.HasSuffix(r.Images[1].Image, "rocket.png") || r.Images[1].Target.Rank != 1 || r.Images[2].Target.Class != 3 {
		t.Errorf("--targets: %+v", r.Images)
	}
	// One target per image, with an undecodable file: the rest is written
	// and the exit status says there were problems.
	bad := filepath.Join(dir, "broken.png")
	if err := os.WriteFile(bad, []byte("no"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "explain", "--model", model, "--images", images[0]+","+bad+","+images[1], "--class", "1,2,40", "--logdir", logdir)
	if err == nil || !strings.Contains(err.Error(), "2 problem(s)") || !strings.Contains(out, "broken.png") || !strings.Contains(out, "class 40 out of range") ||
		!strings.Contains(out, "chelsea.png:  (class 1, rank") || !strings.Contains(out, "view with: tensorboard") {
		t.Errorf("partial batch: err = %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--images", images[0], "--class", "3,7"}, "2 targets for 1 images"},
		{[]string{"--images", images[0], "--targets", csv}, "not both"},
		{[]string{"--targets", csv, "--class", "3"}, "not both"},
		{[]string{}, "no images"},
		{[]string{"--images", images[0], "--class", "zebra", "--labels", labels}, "zebra"},
		{[]string{"--images", images[0], "--class", "top0"}, "top1 to top100"},
		{[]string{"--images", images[0], "--output", "probs"}, `no output "probs"; outputs: dense_1`},
		{[]string{"--images", images[0], "--signature", "nope"}, `--signature nope: `},
		{[]string{"--images", images[0], "--scale", "fixed:2,1"}, "--scale"},
		{[]string{"--images", images[0], "--layer", "sequential/dense/Relu"}, "not a spatial"},
		{[]string{"--images", images[0], "--class", "10"}, "class 10 out of range"},
	} {
		args := append([]string{"explain", "--model", model, "--logdir", filepath.Join(dir, "err")}, tc.args...)
		if out, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

func TestExplainHelpDocumentsFlags(t *testing.T) {
	out, err := runCLI(t, "explain", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"--class", "--targets", "--output", "--signature", "--scale", "--softmax", "<method>/<layer>/<image>/top<r>", "samples_per_plugin", "tbviz-explain-scale.json"} {
		if !strings.Contains(out, s) {
			t.Errorf("explain --help does not mention %s", s)
		}
	}
}

// TestExplainSignature explains the Keras 3 export through its second
// signature, "serve", whose output tensor differs from serving_default's.
func TestExplainSignature(t *testing.T) {
	dir := testenv.SharedModel(t, "mnist-keras3-export-tf220")
	tmp := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := 8; i < 20; i++ {
		img.Pix[i*28+14], img.Pix[14*28+i] = 255, 255
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(tmp, "plus.png")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var probs [2]float64
	for i, sig := range []string{"serving_default", "serve"} {
		out, err := runCLI(t, "explain", "--model", dir, "--signature", sig, "--images", p, "--logdir", filepath.Join(tmp, sig), "--json")
		if err != nil {
			t.Fatal(err, out)
		}
		r := decodeExplain(t, out)
		if r.Output != "output_0" || len(r.Images) != 1 || len(r.Images[0].Maps) != 1 || r.Layer != "sequential_1/conv2d_1_2/Relu" {
			t.Errorf("--signature %s: %+v", sig, r)
		}
		probs[i] = r.Images[0].Target.Score
	}
	if probs[0] != probs[1] || probs[0] <= 0 {
		t.Errorf("the two identical signatures give %v", probs)
	}
	if _, err := runCLI(t, "explain", "--model", dir, "--signature", "nope", "--images", p, "--logdir", tmp); err == nil || !strings.Contains(err.Error(), "serve") {
		t.Errorf("unknown signature: %v (want the available ones listed)", err)
	}
}

// TestExplainMetricsAndFeaturemaps runs explain with featuremaps, metrics
// and a boxes file: the JSON lists the grids and per-method metrics, the
// text output the metrics table, and bad metric flags are refused.
func TestExplainMetricsAndFeaturemaps(t *testing.T) {
	model, images, _ := smallExample(t)
	dir := t.TempDir()
	boxes := filepath.Join(dir, "boxes.csv")
	if err := os.WriteFile(boxes, []byte("image,x0,y0,x1,y1\nchelsea,0,0,40,30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logdir := filepath.Join(dir, "logs")
	out, err := runCLI(t, "explain", "--model", model, "--images", strings.Join(images[:2], ","), "--logdir", logdir,
		"--methods", "gradcam,featuremaps", "--channels", "top:3", "--boxes", boxes, "--metric-steps", "5", "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	var r struct {
		Featuremaps []struct {
			Image, Layer string
			Channels     []int
			Tags         []string
		} `json:"featuremaps"`
		Metrics map[string]struct {
			DeletionAUC    float64 `json:"deletion_auc"`
			PointingHits   int     `json:"pointing_hits"`
			PointingImages int     `json:"pointing_images"`
			Images         []struct {
				Deletion struct{ X []float64 } `json:"deletion"`
			} `json:"images"`
		} `json:"metrics"`
	}
	start, end := strings.Index(out, "{"), strings.LastIndex(out, "}")
	if start < 0 || end < start {
		t.Fatalf("no JSON in %s", out)
	}
	if err := json.Unmarshal([]byte(out[start:end+1]), &r); err != nil {
		t.Fatal(err, out)
	}
	if len(r.Featuremaps) != 2 || len(r.Featuremaps[0].Channels) != 3 || r.Featuremaps[0].Tags[0] != "featuremaps/sequential/conv2d_2/Relu/chelsea" {
		t.Errorf("featuremaps %+v", r.Featuremaps)
	}
	g, ok := r.Metrics["gradcam"]
	if !ok || len(r.Metrics) != 1 || g.PointingHits != 1 || g.PointingImages != 1 || len(g.Images) != 2 || len(g.Images[0].Deletion.X) != 6 {
		t.Errorf("metrics %+v", r.Metrics)
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	if s := ld.Runs[0].Series("metrics/gradcam/pointing_game"); len(s) != 1 || s[0].Scalar != 1 {
		t.Errorf("pointing_game scalar %+v", s)
	}
	out, err = runCLI(t, "explain", "--model", model, "--images", images[0], "--logdir", logdir, "--step", "1", "--metrics", "--metric-steps", "4")
	if err != nil || !strings.Contains(out, "| gradcam |") || strings.Contains(out, "pointing_game") {
		t.Errorf("text output: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--metrics", "--metric-steps", "0"}, "--metric-steps 0"},
		{[]string{"--metrics", "--pointing-tolerance", "-1"}, "--pointing-tolerance"},
		{[]string{"--boxes", filepath.Join(dir, "none.csv")}, "--boxes"},
		{[]string{"--methods", "featuremaps", "--channels", "top:x"}, "--channels"},
	} {
		args := append([]string{"explain", "--model", model, "--images", images[0], "--logdir", filepath.Join(dir, "err")}, tc.args...)
		if out, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}
