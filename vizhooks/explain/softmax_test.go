package explain_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/imageio"
)

// TestSoftmaxOutputsUseLogits runs explain on the shared models whose
// output is a Softmax (MANIFEST.md): by default the score differentiated
// is the Softmax's input, not the output, and the probabilities explain
// reports (its softmax of those logits) equal the model's own output;
// Config.Softmax differentiates the output itself.
func TestSoftmaxOutputsUseLogits(t *testing.T) {
	models := []string{"mnist-seq-bn-tf210", "fashion-mnist-functional-bn-tf25", "mnist-keras3-export-tf220", "potato-disease-tf25", "tm-mobilenetv2-eyes-tf115"}
	if testing.Short() || raceEnabled {
		models = models[:3] // the 224² and 256² models take 10 s under -race
	}
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			dir := testenv.SharedModel(t, name)
			m, err := tfmodel.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			eng, err := native.New(m.Graph, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			in, out := m.Signature.Inputs[0], m.Signature.Outputs[0]
			tmp := t.TempDir()
			img := testImage(t, tmp, in.Shape[2], in.Shape[1])
			rng := imageio.Range01
			if lo, hi, _, ok := m.InputScale(); ok {
				rng = imageio.Range{Lo: lo, Hi: hi}
			}
			batch, err := imageio.LoadBatch([]string{img}, in.Shape[1], in.Shape[2], in.Shape[3], rng)
			if err != nil {
				t.Fatal(err)
			}
			o, err := eng.Run(context.Background(), map[string]*tensor.Tensor{in.Tensor: batch.Tensor}, []string{out.Tensor})
			if err != nil {
				t.Fatal(err)
			}
			modelProbs := o[0]
			sum := 0.0
			for i := range modelProbs.Len() {
				sum += modelProbs.Float(i)
			}
			if math.Abs(sum-1) > 1e-4 {
				t.Fatalf("output %s sums to %g; the manifest says it is a softmax", out.Tensor, sum)
			}
			for _, soft := range []bool{false, true} {
				w, err := tbwriter.NewWriter(filepath.Join(tmp, "logs"), nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := explain.Run(context.Background(), m, eng, []string{img}, w, explain.Config{Range: rng, Softmax: soft})
				w.Close()
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Errors) != 0 || len(res.Images) != 1 || len(res.Images[0].Maps) != 1 {
					t.Fatalf("softmax=%v: %+v %v", soft, res.Images, res.Errors)
				}
				if soft != (res.Score == out.Tensor) {
					t.Errorf("softmax=%v: score tensor %s, output %s", soft, res.Score, out.Tensor)
				}
				if !soft {
					ep, err := m.Graph.Resolve(res.Score)
					if err != nil {
						t.Fatal(err)
					}
					if ep.Node.Op == "Softmax" {
						t.Errorf("default score %s is a Softmax", res.Score)
					}
					// The score's consumers include a Softmax.
					feedsSoftmax := false
					for _, n := range m.Graph.Nodes {
						if n.Op == "Softmax" && len(n.Inputs) == 1 && n.Inputs[0].String() == ep.String() {
							feedsSoftmax = true
						}
					}
					if !feedsSoftmax {
						t.Errorf("default score %s is not the input of a Softmax", res.Score)
					}
				}
				tg := res.Images[0].Target
				if want := modelProbs.Float(tg.Class); math.Abs(tg.Score-want) > 1e-5 || tg.Rank != 1 {
					t.Errorf("softmax=%v: target %+v, the model's own probability of class %d is %g", soft, tg, tg.Class, want)
				}
			}
		})
	}
}

// testImage writes a w×h colour gradient PNG.
func testImage(t *testing.T, dir string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(255 * x / w), uint8(255 * y / h), uint8((x*y)%256) / 2, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "gradient.png")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
