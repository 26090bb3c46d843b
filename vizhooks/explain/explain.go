// Package explain runs attribution methods (package cam) on a loaded model
// and a batch of image files and writes the results into a TensorBoard
// logdir: one panel image (original | heatmap | overlay) per method, layer
// and image, a text summary with the top-k table and the settings, and the
// target probability as a scalar per image.
//
// Tag scheme (stable): "<method>/<layer>/<image>" for panels, where layer
// is the target layer's node name and image is the file's base name without
// extension; "prob/<image>" for the target class probability;
// "summary" for the text. One image per tag per step, so TensorBoard's
// 10-sample image reservoir hides nothing within a step.
package explain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/cam"
	"github.com/tbviz/tbviz/vizhooks/imageio"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// Config selects what Run computes. The zero value runs Grad-CAM on the
// suggested layer for each image's top-1 class, inputs in [0, 1].
type Config struct {
	// Methods are cam method names (default ["gradcam"]); "all" expands
	// to every registered method.
	Methods []string
	// Layer is the target layer spec (layers.Resolve); "" picks the
	// suggested layer.
	Layer string
	// Class is the target class for every image; negative (or Top1) means
	// each image's top-1 prediction.
	Class int
	// Top1 forces each image's top-1 prediction as its target.
	Top1 bool
	// Labels are class names by index (optional).
	Labels []string
	// Range is the model's input value range (default [0, 1]).
	Range imageio.Range
	// Softmax differentiates the softmax output instead of the logits.
	Softmax bool
	// Colormap names the heatmap colormap (default "jet").
	Colormap string
	// Alpha is the overlay opacity (default 0.5).
	Alpha float64
	// Step is the TensorBoard step.
	Step int64
	// TopK is the number of classes in the text table (default 5).
	TopK int
	// CAM tunes the methods.
	CAM cam.Options
	// RawOut, when set, is a directory that receives each map's raw float
	// values (at the method's resolution, before normalisation and colour
	// mapping) as <image>_<method>_<layer>.npy files.
	RawOut string
	// PNGOut, when set, is a directory that receives each panel as
	// <image>_<method>_<layer>.png too.
	PNGOut string
}

// Target is the class a map explains.
type Target struct {
	Class int     `json:"class"`
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

// Map names one written map.
type Map struct {
	Method string `json:"method"`
	Layer  string `json:"layer"`
	Tag    string `json:"tag"`
	// Raw is the .npy file of the raw map ("" without Config.RawOut).
	Raw string `json:"raw"`
}

// ImageResult is what Run wrote for one image.
type ImageResult struct {
	Image  string `json:"image"`
	Target Target `json:"target"`
	Maps   []Map  `json:"maps"`
}

// Result is the outcome of Run.
type Result struct {
	Layer  string        `json:"layer"`
	Images []ImageResult `json:"images"`
	// Errors are per-image or per-method failures; the rest was written.
	Errors []error `json:"-"`
}

// Run explains the images at paths with the model and writes to w.
func Run(ctx context.Context, m *tfmodel.Model, eng engine.Engine, paths []string, w *tbwriter.Writer, cfg Config) (*Result, error) {
	if len(m.Signature.Inputs) != 1 || len(m.Signature.Outputs) < 1 {
		return nil, fmt.Errorf("explain: signature %s has %d inputs and %d outputs; need one image input and a score output", m.Signature.Name, len(m.Signature.Inputs), len(m.Signature.Outputs))
	}
	in, out := m.Signature.Inputs[0], m.Signature.Outputs[0]
	if len(in.Shape) != 4 || in.Shape[1] <= 0 || in.Shape[2] <= 0 {
		return nil, fmt.Errorf("explain: input %s has shape %v; need [batch, height, width, channels] with known height and width", in.Key, in.Shape)
	}
	rng := cfg.Range
	if rng == (imageio.Range{}) {
		rng = imageio.Range01
	}
	batch, err := imageio.LoadBatch(paths, in.Shape[1], in.Shape[2], in.Shape[3], rng)
	res := &Result{}
	if batch != nil {
		res.Errors = append(res.Errors, batch.Errs...)
	}
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	score, err := layers.ScoreTensor(m.Graph, out.Tensor, !cfg.Softmax)
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	layer, err := resolveLayer(ctx, m, eng, in.Tensor, batch.Tensor, cfg.Layer)
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	res.Layer = layer
	outs, err := eng.Run(ctx, map[string]*tensor.Tensor{in.Tensor: batch.Tensor}, []string{score})
	if err != nil {
		return res, fmt.Errorf("explain: predict: %w", err)
	}
	probs := cam.Softmax(outs[0])
	if cfg.Softmax {
		probs = rows(outs[0])
	}
	b := len(batch.Originals)
	classes := make([]int, b)
	for i := range classes {
		if cfg.Class >= 0 && !cfg.Top1 {
			classes[i] = cfg.Class
		} else {
			classes[i] = cam.TopK(outs[0], 1)[i][0]
		}
		if classes[i] >= len(probs[i]) {
			return res, fmt.Errorf("explain: class %d out of range: the model has %d classes", classes[i], len(probs[i]))
		}
	}
	for _, d := range []string{cfg.RawOut, cfg.PNGOut} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return res, fmt.Errorf("explain: %w", err)
			}
		}
	}
	methods, err := expandMethods(cfg.Methods)
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	cmapName := cfg.Colormap
	if cmapName == "" {
		cmapName = "jet"
	}
	cmap, err := render.ColormapByName(cmapName)
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	alpha := cfg.Alpha
	if alpha == 0 {
		alpha = 0.5
	}
	for i := range b {
		res.Images = append(res.Images, ImageResult{Image: batch.Paths[i], Target: Target{Class: classes[i], Label: label(cfg.Labels, classes[i]), Score: probs[i][classes[i]]}})
	}
	input := &cam.Input{Engine: eng, Graph: m.Graph, InputName: in.Tensor, Images: batch.Tensor, Layer: layer, Score: score, Classes: classes, Options: cfg.CAM}
	for _, meth := range methods {
		maps, err := meth.Compute(ctx, input)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("%s: %w", meth.Name(), err))
			continue
		}
		for i := range b {
			tag := meth.Name() + "/" + layer + "/" + imageName(batch.Paths[i])
			panel := renderPanel(batch.Originals[i], maps, i, cmap, alpha, meth.Name(), res.Images[i].Target)
			if err := w.Image(tag, cfg.Step, panel); err != nil {
				return res, fmt.Errorf("explain: write %s: %w", tag, err)
			}
			mp := Map{Method: meth.Name(), Layer: layer, Tag: tag}
			base := fileBase(imageName(batch.Paths[i]), meth.Name(), layer)
			if cfg.RawOut != "" {
				h, wd, c := maps.Shape[1], maps.Shape[2], maps.Shape[3]
				shape := []int{h, wd}
				if c > 1 {
					shape = append(shape, c)
				}
				mp.Raw = filepath.Join(cfg.RawOut, base+".npy")
				if err := writeNPY(mp.Raw, maps.F32[i*h*wd*c:(i+1)*h*wd*c], shape); err != nil {
					return res, fmt.Errorf("explain: --raw-out: %w", err)
				}
			}
			if cfg.PNGOut != "" {
				if err := writePNG(filepath.Join(cfg.PNGOut, base+".png"), panel); err != nil {
					return res, fmt.Errorf("explain: --png-out: %w", err)
				}
			}
			res.Images[i].Maps = append(res.Images[i].Maps, mp)
		}
	}
	k := cfg.TopK
	if k <= 0 {
		k = 5
	}
	top := cam.TopK(outs[0], k)
	var sb strings.Builder
	fmt.Fprintf(&sb, "**model** `%s` (%s), **layer** `%s`, **score** `%s`, **step** %d\n\n", m.Dir, m.Format, layer, score, cfg.Step)
	sb.WriteString("| image | target | top classes |\n|---|---|---|\n")
	for i, r := range res.Images {
		var cells []string
		for _, c := range top[i] {
			cells = append(cells, fmt.Sprintf("%s %.3f", labelOr(cfg.Labels, c), probs[i][c]))
		}
		fmt.Fprintf(&sb, "| %s | %s (%.3f) | %s |\n", imageName(r.Image), labelOr(cfg.Labels, r.Target.Class), r.Target.Score, strings.Join(cells, ", "))
		if err := w.Scalar("prob/"+imageName(r.Image), cfg.Step, r.Target.Score); err != nil {
			return res, fmt.Errorf("explain: %w", err)
		}
	}
	for _, e := range res.Errors {
		fmt.Fprintf(&sb, "\n- error: %s", e)
	}
	if err := w.Text("summary", cfg.Step, sb.String()); err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	return res, nil
}

func rows(t *tensor.Tensor) [][]float64 {
	n, k := t.Shape[0], t.Shape[1]
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, k)
		for j := range k {
			out[i][j] = t.Float(i*k + j)
		}
	}
	return out
}

func resolveLayer(ctx context.Context, m *tfmodel.Model, eng engine.Engine, input string, images *tensor.Tensor, spec string) (string, error) {
	per := images.Len() / images.Shape[0]
	sample := tensor.FromFloat32(images.F32[:per], append([]int{1}, images.Shape[1:]...)...)
	spatial, err := layers.Spatial(ctx, eng, m.Graph, input, sample)
	if err != nil {
		return "", err
	}
	if spec == "" {
		l, err := layers.Suggest(m.Graph, spatial)
		if err != nil {
			return "", err
		}
		return l.Name, nil
	}
	ep, err := layers.ResolveIn(m.Graph, spec, spatial)
	if err != nil {
		return "", err
	}
	return ep.String(), nil
}

func expandMethods(names []string) ([]cam.Method, error) {
	if len(names) == 0 {
		names = []string{"gradcam"}
	}
	if len(names) == 1 && names[0] == "all" {
		names = cam.Names()
	}
	var out []cam.Method
	var errs []error
	for _, n := range names {
		meth, err := cam.ByName(strings.TrimSpace(n))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, meth)
	}
	return out, errors.Join(errs...)
}

// renderPanel draws original | heatmap | overlay for image i of maps.
func renderPanel(orig image.Image, maps *tensor.Tensor, i int, cmap render.Colormap, alpha float64, method string, t Target) image.Image {
	b := orig.Bounds()
	H, W := b.Dy(), b.Dx()
	h, w, c := maps.Shape[1], maps.Shape[2], maps.Shape[3]
	m := maps.F32[i*h*w*c : (i+1)*h*w*c]
	caption := fmt.Sprintf("%s: %s %.3f", method, t.Label, t.Score)
	if t.Label == "" {
		caption = fmt.Sprintf("%s: class %d %.3f", method, t.Class, t.Score)
	}
	if c == 3 {
		g := render.GradientImage(m, h, w, c)
		return render.Panel([]image.Image{orig, g}, []string{"input", caption}, render.Options{})
	}
	heat := render.MinMax(render.Upsample(m, h, w, H, W, nil), nil)
	return render.Panel([]image.Image{orig, render.Heatmap(heat, H, W, cmap), render.Overlay(orig, heat, cmap, alpha)}, []string{"input", caption, "overlay"}, render.Options{})
}

// fileBase names the files of one map: image, method and layer, with
// characters that are awkward in file names replaced by '_'.
func fileBase(img, method, layer string) string {
	r := strings.NewReplacer("/", "_", ":", "_", "+", "p", " ", "_")
	return r.Replace(img + "_" + method + "_" + layer)
}

func writePNG(path string, img image.Image) error {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func imageName(p string) string {
	base := filepath.Base(p)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func label(labels []string, c int) string {
	if c >= 0 && c < len(labels) {
		return labels[c]
	}
	return ""
}

func labelOr(labels []string, c int) string {
	if l := label(labels, c); l != "" {
		return l
	}
	return fmt.Sprintf("class %d", c)
}
