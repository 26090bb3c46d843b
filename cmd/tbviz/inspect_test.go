package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"tbviz"}, args...))
	return out.String() + errOut.String(), err
}

func TestInspectPredictExplainOnExample(t *testing.T) {
	dir := t.TempDir()
	model, images, labels, err := cifar10.Extract(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "inspect", "--json", model)
	if err != nil {
		t.Fatal(err, out)
	}
	var ins inspectJSON
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if ins.Format != "tf2-keras-savedmodel" || ins.TensorFlowVersion != "2.8.0" || ins.Params != 122570 || ins.TargetLayer != "sequential/conv2d_2/Relu" || len(ins.Layers) < 8 {
		t.Errorf("inspect: %+v", ins)
	}
	out, err = runCLI(t, "predict", "--json", "--top", "3", "--labels", labels, model, images[0], filepath.Join(dir, "missing.png"))
	if err != nil {
		t.Fatal(err, out)
	}
	var preds []predictJSON
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "]")+1]), &preds); err != nil {
		t.Fatalf("predict --json: %v\n%s", err, out)
	}
	if len(preds) != 1 || len(preds[0].Top) != 3 || !strings.Contains(out, "missing.png") || !strings.Contains(out, "input range 0,1 (default") {
		t.Fatalf("predict: %s", out)
	}
	sum := 0.0
	for i, c := range preds[0].Top {
		sum += c.Score
		if c.Label == "" || (i > 0 && c.Score > preds[0].Top[i-1].Score) {
			t.Errorf("predict top %d: %+v", i, c)
		}
	}
	if sum <= 0 || sum > 1+1e-6 {
		t.Errorf("top-3 probabilities sum to %g", sum)
	}
	logdir := filepath.Join(dir, "logs")
	out, err = runCLI(t, "explain", "--model", model, "--images", images[0], "--logdir", logdir, "--run", "r1", "--methods", "gradcam,layercam", "--class", "cat", "--labels", labels, "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	if !strings.Contains(out, `"label": "cat"`) || !strings.Contains(out, "gradcam/sequential/conv2d_2/Relu/chelsea") {
		t.Errorf("explain --json: %s", out)
	}
	if _, err := runCLI(t, "explain", "--model", model, "--images", images[0], "--logdir", logdir, "--class", "zebra", "--labels", labels); err == nil || !strings.Contains(err.Error(), "zebra") {
		t.Errorf("unknown class name: err = %v", err)
	}
	if _, err := runCLI(t, "inspect", filepath.Join(dir, "nope")); err == nil {
		t.Error("inspect of a missing dir succeeded")
	}
}

// noRootEvents fails when a command given --run left an event file in the
// logdir root (TensorBoard would list it as an empty run).
func noRootEvents(t *testing.T, logdir string) {
	t.Helper()
	ents, err := os.ReadDir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.IsDir() && strings.Contains(e.Name(), "tfevents") {
			t.Errorf("event file %s in the logdir root; only the run directory should have one", e.Name())
		}
	}
}
