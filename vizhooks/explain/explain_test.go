package explain_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/vizhooks/explain"
)

// TestRunWritesEveryTag explains the embedded example (plus one file that
// does not decode) and reads the logdir back: every method/image panel,
// the probability scalars and the summary are there, once, and the bad
// image is reported without sinking the batch.
func TestRunWritesEveryTag(t *testing.T) {
	f := newFixture(t) // the example's model, with small copies of its photos
	dir, images, labels, m, eng := f.dir, f.images, f.labels, f.m, f.eng
	bad := filepath.Join(dir, "broken.png")
	if err := os.WriteFile(bad, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	logdir := filepath.Join(dir, "logs")
	w, err := tbwriter.NewWriter(logdir, nil)
	if err != nil {
		t.Fatal(err)
	}
	methods := []string{"gradcam", "gradcam++", "layercam", "guidedbackprop"}
	res, err := explain.Run(context.Background(), m, eng, append(images, bad), w, explain.Config{Methods: methods, Labels: labels, Class: -1, Step: 7, RawOut: filepath.Join(dir, "raw"), PNGOut: filepath.Join(dir, "png")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "broken.png") {
		t.Fatalf("errors = %v, want one naming broken.png", res.Errors)
	}
	if res.Layer != "sequential/conv2d_2/Relu" {
		t.Errorf("layer = %q, want the suggested sequential/conv2d_2/Relu", res.Layer)
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	run := ld.Run(".")
	if run == nil {
		t.Fatal("no root run")
	}
	want := map[string]bool{"summary": true}
	for _, img := range []string{"chelsea", "coffee", "rocket"} {
		want["prob/"+img] = true
		for _, meth := range methods {
			want[meth+"/sequential/conv2d_2/Relu/"+img] = true
		}
	}
	got := map[string]int{}
	for _, v := range run.Values {
		got[v.Tag]++
		if v.Step != 7 {
			t.Errorf("%s at step %d, want 7", v.Tag, v.Step)
		}
	}
	for tag := range want {
		if got[tag] != 1 {
			t.Errorf("tag %s written %d times, want once", tag, got[tag])
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d tags, want %d: %v", len(got), len(want), got)
	}
	checkNPY(t, res, dir)
	for _, r := range res.Images {
		if r.Target.Label == "" || r.Target.Score <= 0 || r.Target.Score > 1 || len(r.Maps) != len(methods) {
			t.Errorf("bad result %+v", r)
		}
	}
}

// checkNPY loads every raw map with numpy (Debian's python3-numpy, an
// independent reader of the format) and compares shape and values with
// what the .npy file claims; PNG panels must exist beside them.
func checkNPY(t *testing.T, res *explain.Result, dir string) {
	t.Helper()
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("python3 not available to read .npy files")
	}
	var paths []string
	for _, r := range res.Images {
		for _, m := range r.Maps {
			if m.Raw == "" {
				t.Fatalf("map %s has no raw file", m.Tag)
			}
			paths = append(paths, m.Raw)
			png := strings.TrimSuffix(filepath.Join(dir, "png", filepath.Base(m.Raw)), ".npy") + ".png"
			if _, err := os.Stat(png); err != nil {
				t.Errorf("panel %s: %v", png, err)
			}
		}
	}
	script := "import sys, numpy as np\nfor p in sys.argv[1:]:\n    a = np.load(p)\n    assert a.dtype == np.float32, a.dtype\n    assert np.isfinite(a).all()\n    print(p, a.shape, float(a.max()))\n"
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script}, paths...)...).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named 'numpy'") {
			t.Skip("numpy not installed")
		}
		t.Fatalf("numpy.load: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.Contains(line, "_gradcam_"), strings.Contains(line, "_layercam_"), strings.Contains(line, "_gradcampp_"):
			if !strings.Contains(line, "(4, 4)") {
				t.Errorf("layer-space map should be 4x4: %s", line)
			}
		case strings.Contains(line, "_guidedbackprop_"):
			if !strings.Contains(line, "(32, 32, 3)") {
				t.Errorf("guided backprop should be 32x32x3: %s", line)
			}
		}
	}
}
