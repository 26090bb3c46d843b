// Package explain runs attribution methods (package cam) on a loaded model
// and a batch of image files and writes the results into a TensorBoard
// logdir: one panel image (original | heatmap | overlay) per method, layer,
// image and target, a text summary with the top-k table and the settings,
// and the target probability as a scalar.
//
// # Targets
//
// Each image is explained for one or more target classes (Config.Targets,
// a Choice each): a class index, or the image's top-k predicted classes.
// One Choice applies to every image; a list gives one per image path, in
// order. Result.Images holds one entry per (image, target).
//
// # Tag scheme (stable)
//
//   - "<method>/<layer>/<image>": the panel of an image with a single
//     target (a class index, or top1);
//   - "<method>/<layer>/<image>/top<r>": the panel of the r-th most probable
//     class (r = 1..k) of an image whose target is topK with k > 1;
//   - "prob/<image>" and "prob/<image>/top<r>": the target's probability;
//   - "summary": the text;
//   - "featuremaps/<layer>/<image>[/p<N>]" and the histogram
//     "activations/<layer>", when Methods names "featuremaps" (see
//     package featuremaps);
//   - "metrics/<method>/<metric>" scalars, when Config.Metrics is set
//     (see package metrics).
//
// layer is the target layer's tensor name; image is the file's base name
// without extension ("_2", "_3", ... appended when two files share one).
// Tags name ranks, not classes, so a tag keeps its meaning from step to
// step when the top classes change; the panel's caption and the summary
// name the class. One image per tag per step, so TensorBoard's 10-sample
// image reservoir hides nothing within a step (across steps, see
// MaxImageSteps and SamplesFor).
//
// # Scores and outputs
//
// The score differentiated is the chosen signature output (Config.Output;
// by default the only output, or the only float [batch, classes] one);
// when that output is a Softmax, its input (the logits) is used unless
// Config.Softmax is set. Probabilities are the softmax of the logits, or
// the output itself when it is a softmax.
//
// # Normalisation
//
// Heatmaps are normalised per image by default; Config.Scale selects one
// range per step (ScaleBatch), a fixed raw range (ScaleFixed), or the range
// of the run's first step, remembered in ScaleFile (ScaleRun).
package explain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/cam"
	"github.com/tbviz/tbviz/vizhooks/featuremaps"
	"github.com/tbviz/tbviz/vizhooks/imageio"
	"github.com/tbviz/tbviz/vizhooks/metrics"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// Config selects what Run computes. The zero value runs Grad-CAM on the
// suggested layer for each image's top-1 class, inputs in [0, 1], each
// heatmap normalised on its own.
type Config struct {
	// Methods are cam method names (default ["gradcam"]); "all" expands
	// to every registered method, and those that do not apply to the
	// model are skipped (Result.Skipped) rather than failed. The name
	// "featuremaps" (not part of "all") adds feature-map grids of
	// FeatureLayers.
	Methods []string
	// FeatureLayers are the layers drawn when Methods names
	// "featuremaps" (layer specs as for Layer); empty means the target
	// layer.
	FeatureLayers []string
	// Featuremaps tunes the feature-map grids (channel selection,
	// normalisation, colormap, paging).
	Featuremaps featuremaps.Config
	// Metrics scores every method's maps with package metrics (deletion
	// and insertion AUC, Average Drop, Increase in Confidence, and the
	// pointing game for images with Boxes), written as scalars
	// "metrics/<method>/..." and as a table in the summary.
	Metrics bool
	// MetricsConfig tunes the metrics (steps, substrates, tolerance).
	MetricsConfig metrics.Config
	// Boxes are the annotated objects for the pointing game, looked up
	// by image path, base name, or base name without extension.
	Boxes metrics.Boxes
	// Layer is the target layer spec (layers.Resolve); "" picks the
	// suggested layer. It must be a spatial [batch, h, w, c] activation.
	Layer string
	// Targets are the target classes: one Choice for every image, or one
	// per image path, in path order (see ParseChoices, ReadTargetsCSV).
	// Empty means the deprecated Class and Top1 decide.
	Targets []Choice
	// Class is the target class of every image when Targets is empty.
	// Deprecated: use Targets. A positive Class selects that class; zero
	// or negative (or Top1) selects each image's top-1 prediction, so
	// class 0 needs Targets: []Choice{{Class: 0}}.
	Class int
	// Top1 forces each image's top-1 prediction when Targets is empty.
	// Deprecated: use Targets: []Choice{{Top: 1}}.
	Top1 bool
	// Labels are class names by index (optional).
	Labels []string
	// Range is the model's input value range (default [0, 1]).
	Range imageio.Range
	// Output is the key of the signature output to explain. Empty picks
	// the only output, or else the only float [batch, classes] output;
	// when several qualify, Run fails listing them.
	Output string
	// Softmax differentiates the softmax output instead of the logits
	// before it (the default when the output is a Softmax).
	Softmax bool
	// Colormap names the heatmap colormap (default "jet").
	Colormap string
	// Alpha is the overlay opacity (default 0.5).
	Alpha float64
	// Scale selects how heatmaps are normalised (default: per image).
	Scale Scale
	// Step is the TensorBoard step.
	Step int64
	// TopK is the number of classes in the text table (default 5).
	TopK int
	// CAM tunes the methods. Its BatchSize (default 32) is also the
	// number of (image, target) pairs per Compute call.
	CAM cam.Options
	// RawOut, when set, is a directory that receives each map's raw float
	// values (at the method's resolution, before normalisation and colour
	// mapping) as <image>_<method>_<layer>.npy files (<image>_top<r>_...
	// for top-k targets).
	RawOut string
	// PNGOut, when set, is a directory that receives each panel as
	// <image>_<method>_<layer>.png too.
	PNGOut string
	// Progress, when set, is called after each piece of work with the
	// number of (image, target, method) maps done and the total.
	Progress func(done, total int)
}

// Target is the class a map explains.
type Target struct {
	Class int    `json:"class"`
	Label string `json:"label"`
	// Score is the class probability.
	Score float64 `json:"score"`
	// Rank is the class's rank among the image's predictions (1 = the
	// most probable).
	Rank int `json:"rank"`
}

// Map names one written map.
type Map struct {
	Method string `json:"method"`
	Layer  string `json:"layer"`
	Tag    string `json:"tag"`
	// Raw is the .npy file of the raw map ("" without Config.RawOut).
	Raw string `json:"raw"`
}

// ImageResult is what Run wrote for one image and target.
type ImageResult struct {
	Image  string `json:"image"`
	Target Target `json:"target"`
	Maps   []Map  `json:"maps"`
}

// Result is the outcome of Run.
type Result struct {
	Layer string `json:"layer"`
	// Output is the signature output key explained; Score is the tensor
	// differentiated (the logits before a Softmax output, by default).
	Output string `json:"output"`
	Score  string `json:"score"`
	// Images has one entry per (image, target), in image order.
	Images []ImageResult `json:"images"`
	// Scales holds, for Scale modes other than per image, the range used
	// for each method ([min, max] in raw units; absent when the method's
	// maps had no usable range).
	Scales map[string][2]float64 `json:"scales,omitempty"`
	// Errors are per-image, per-target or per-method failures; the rest
	// was written.
	Errors []error `json:"-"`
	// Skipped are the methods that do not apply to the model (e.g. CAM
	// without global average pooling) when Methods is "all": "all" means
	// every method that applies, so these are not errors.
	Skipped []error `json:"-"`
	// FeatureMaps lists the feature-map grids written, per image and
	// layer (Methods naming "featuremaps").
	FeatureMaps []FeatureMap `json:"featuremaps,omitempty"`
	// Metrics holds each method's scores when Config.Metrics is set,
	// by method name.
	Metrics map[string]*metrics.Report `json:"metrics,omitempty"`
}

// FeatureMap names the grids written for one image and layer.
type FeatureMap struct {
	Image string `json:"image"`
	Layer string `json:"layer"`
	// Channels are the channels shown, in tile order.
	Channels []int `json:"channels"`
	// Tags are the grid pages' image tags.
	Tags []string `json:"tags"`
}

// pair is one (image, target) to explain.
type pair struct {
	row    int    // row of the loaded batch
	name   string // image part of the tags, "<image>" or "<image>/top<r>"
	class  int
	result int // index into Result.Images
}

// pending is a map whose rendering waits for its method's batch range.
type pending struct {
	pair int
	m    []float32
	h, w int
}

// Run explains the images at paths with the model and writes to w. Images
// that do not decode, targets out of range and methods that fail are
// reported in Result.Errors and the rest is written; the error is non-nil
// when nothing could be explained or writing failed.
func Run(ctx context.Context, m *tfmodel.Model, eng engine.Engine, paths []string, w *tbwriter.Writer, cfg Config) (*Result, error) {
	res := &Result{}
	if len(m.Signature.Inputs) != 1 || len(m.Signature.Outputs) < 1 {
		return nil, fmt.Errorf("explain: signature %s has %d inputs and %d outputs; need one image input and a score output", m.Signature.Name, len(m.Signature.Inputs), len(m.Signature.Outputs))
	}
	in := m.Signature.Inputs[0]
	out, err := pickOutput(m.Signature, cfg.Output)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	res.Output = out.Key
	if len(in.Shape) != 4 || in.Shape[1] <= 0 || in.Shape[2] <= 0 {
		return nil, fmt.Errorf("explain: input %s has shape %v; need [batch, height, width, channels] with known height and width", in.Key, in.Shape)
	}
	if err := cfg.Scale.check(); err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	camNames, wantFM := splitFeaturemaps(cfg.Methods)
	var methods []cam.Method
	if len(camNames) > 0 || !wantFM {
		if methods, err = expandMethods(camNames); err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
	}
	all := len(camNames) == 1 && camNames[0] == "all"
	cmapName := cfg.Colormap
	if cmapName == "" {
		cmapName = "jet"
	}
	cmap, err := render.ColormapByName(cmapName)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	alpha := cfg.Alpha
	if alpha == 0 {
		alpha = 0.5
	}
	if len(paths) == 0 {
		return nil, errors.New("explain: no images")
	}
	choices, err := targetsFor(cfg, len(paths))
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	rng := cfg.Range
	if rng == (imageio.Range{}) {
		rng = imageio.Range01
	}
	batch, err := imageio.LoadBatch(paths, in.Shape[1], in.Shape[2], in.Shape[3], rng)
	if batch != nil {
		res.Errors = append(res.Errors, batch.Errs...)
	}
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	// Row i of the batch is path rowPath[i]: LoadBatch keeps the order
	// and leaves out the files that failed.
	rowChoice := make([]Choice, len(batch.Paths))
	for i, j := 0, 0; i < len(batch.Paths) && j < len(paths); j++ {
		if paths[j] == batch.Paths[i] {
			rowChoice[i] = choices[j]
			i++
		}
	}
	score, err := layers.ScoreTensor(m.Graph, out.Tensor, !cfg.Softmax)
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	res.Score = score
	// The probabilities are the softmax of the score, except when the
	// score is itself a softmax output (--softmax on a Softmax model).
	isProb := false
	if cfg.Softmax {
		pre, err := layers.ScoreTensor(m.Graph, out.Tensor, true)
		isProb = err == nil && pre != out.Tensor
	}
	layer, err := resolveLayer(ctx, m, eng, in.Tensor, batch.Tensor, cfg.Layer)
	if err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	res.Layer = layer
	names := imageNames(batch.Paths)
	if wantFM {
		if err := writeFeaturemaps(ctx, m, eng, in.Tensor, batch, names, layer, w, cfg, res); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("explain: %w", err)
			}
			res.Errors = append(res.Errors, fmt.Errorf("featuremaps: %w", err))
		}
	}
	scores, err := predict(ctx, eng, in.Tensor, score, batch.Tensor, cfg.CAM.BatchSize)
	if err != nil {
		return res, fmt.Errorf("explain: predict: %w", err)
	}
	var probs [][]float64
	if isProb {
		probs = rows(scores)
	} else {
		probs = cam.Softmax(scores)
	}
	b, nClasses := len(batch.Originals), scores.Shape[1]
	var pairs []pair
	for i := range b {
		ch := rowChoice[i]
		order := rankOrder(probs[i])
		add := func(class int, name string) {
			pairs = append(pairs, pair{row: i, name: name, class: class, result: len(res.Images)})
			res.Images = append(res.Images, ImageResult{Image: batch.Paths[i], Target: Target{Class: class, Label: label(cfg.Labels, class), Score: probs[i][class], Rank: order[class]}})
		}
		switch {
		case ch.Top > nClasses:
			res.Errors = append(res.Errors, fmt.Errorf("%s: target top%d: the model has only %d classes (output %s)", batch.Paths[i], ch.Top, nClasses, out.Key))
		case ch.Top == 1:
			add(cam.TopK(rowOf(scores, i), 1)[0][0], names[i])
		case ch.Top > 1:
			for r, c := range cam.TopK(rowOf(scores, i), ch.Top)[0] {
				add(c, names[i]+"/top"+strconv.Itoa(r+1))
			}
		case ch.Class >= nClasses:
			res.Errors = append(res.Errors, fmt.Errorf("%s: class %d out of range: the model has %d classes, 0 to %d (output %s)", batch.Paths[i], ch.Class, nClasses, nClasses-1, out.Key))
		default:
			add(ch.Class, names[i])
		}
	}
	if len(pairs) == 0 {
		return res, fmt.Errorf("explain: nothing to explain: %w", errors.Join(res.Errors...))
	}
	if cfg.Metrics && len(cfg.Boxes) > 0 && !anyBoxes(cfg.Boxes, batch.Paths) {
		res.Errors = append(res.Errors, fmt.Errorf("boxes: no box names any of the images (by path, base name or base name without extension); the pointing game is not played"))
	}
	scorer := metrics.NewScorer(eng, in.Tensor, score, !isProb)
	reports := make([][]metrics.ImageReport, len(methods))
	for _, d := range []string{cfg.RawOut, cfg.PNGOut} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return res, fmt.Errorf("explain: %w", err)
			}
		}
	}
	var state *scaleState
	if cfg.Scale.Mode == ScaleRun {
		if state, err = readScaleState(w.Dir()); err != nil {
			return res, fmt.Errorf("explain: %w", err)
		}
	}
	fixed := make([]render.Scale, len(methods)) // known ranges; invalid = not (yet) known
	for k, meth := range methods {
		switch cfg.Scale.Mode {
		case ScaleFixed:
			fixed[k] = render.Scale{Min: cfg.Scale.Min, Max: cfg.Scale.Max}
		case ScaleRun:
			if s, ok := state.Scales[meth.Name()+"/"+layer]; ok {
				fixed[k] = render.Scale{Min: s.Min, Max: s.Max}
			}
		}
	}
	deferred := make([][]pending, len(methods))
	failed := make([]bool, len(methods))
	perMap := 1
	if cfg.Metrics {
		perMap = 2 // the metrics take about as long as the maps, or longer
	}
	done, total := 0, len(pairs)*len(methods)*perMap
	progress := func(n int) {
		done += n
		if cfg.Progress != nil {
			cfg.Progress(done, total)
		}
	}
	progress(0)
	writeMap := func(k int, p pair, maps []float32, h, wd, c int, sc render.Scale) error {
		meth := methods[k]
		t := res.Images[p.result].Target
		tag := meth.Name() + "/" + layer + "/" + p.name
		panel := renderPanel(batch.Originals[p.row], maps, h, wd, c, cmap, alpha, meth.Name(), t, sc)
		if err := w.Image(tag, cfg.Step, panel); err != nil {
			return fmt.Errorf("write %s: %w", tag, err)
		}
		mp := Map{Method: meth.Name(), Layer: layer, Tag: tag}
		base := fileBase(strings.ReplaceAll(p.name, "/", "_"), meth.Name(), layer)
		if cfg.RawOut != "" {
			shape := []int{h, wd}
			if c > 1 {
				shape = append(shape, c)
			}
			mp.Raw = filepath.Join(cfg.RawOut, base+".npy")
			if err := writeNPY(mp.Raw, maps, shape); err != nil {
				return fmt.Errorf("--raw-out: %w", err)
			}
		}
		if cfg.PNGOut != "" {
			if err := writePNG(filepath.Join(cfg.PNGOut, base+".png"), panel); err != nil {
				return fmt.Errorf("--png-out: %w", err)
			}
		}
		res.Images[p.result].Maps = append(res.Images[p.result].Maps, mp)
		return nil
	}
	chunkSize := cfg.CAM.BatchSize
	if chunkSize <= 0 {
		chunkSize = 32
	}
	for start := 0; start < len(pairs); start += chunkSize {
		chunk := pairs[start:min(start+chunkSize, len(pairs))]
		images, classes := gather(batch.Tensor, chunk)
		input := &cam.Input{Engine: eng, Graph: m.Graph, InputName: in.Tensor, Images: images, Layer: layer, Score: score, Classes: classes, Options: cfg.CAM}
		for k, meth := range methods {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("explain: %w", err)
			}
			if failed[k] {
				progress(len(chunk) * perMap)
				continue
			}
			maps, err := meth.Compute(ctx, input)
			if err != nil {
				if ctx.Err() != nil {
					return res, fmt.Errorf("explain: %s: %w", meth.Name(), err)
				}
				failed[k] = true
				if !strings.HasPrefix(err.Error(), meth.Name()+": ") {
					err = fmt.Errorf("%s: %w", meth.Name(), err)
				}
				if all {
					res.Skipped = append(res.Skipped, err)
				} else {
					res.Errors = append(res.Errors, err)
				}
				progress(len(chunk) * perMap)
				continue
			}
			if cfg.Metrics {
				// Seed+i orders ties for image i of an Evaluate call; offset
				// it by the chunk's first pair so chunking changes nothing.
				mc := cfg.MetricsConfig
				mc.Seed += uint64(start)
				rep, err := metrics.Evaluate(ctx, scorer, metricsInput(images, maps, classes, chunk, batch, cfg.Boxes), mc)
				if err != nil {
					if ctx.Err() != nil {
						return res, fmt.Errorf("explain: %s: %w", meth.Name(), err)
					}
					res.Errors = append(res.Errors, fmt.Errorf("%s: %w", meth.Name(), err))
				} else {
					reports[k] = append(reports[k], rep.Images...)
				}
				progress(len(chunk))
			}
			h, wd, c := maps.Shape[1], maps.Shape[2], maps.Shape[3]
			for j, p := range chunk {
				mp := maps.F32[j*h*wd*c : (j+1)*h*wd*c]
				if c == 1 && cfg.Scale.Mode != ScaleImage && !fixed[k].Valid() {
					deferred[k] = append(deferred[k], pending{pair: start + j, m: mp, h: h, w: wd})
					continue
				}
				if err := writeMap(k, p, mp, h, wd, c, fixed[k]); err != nil {
					return res, fmt.Errorf("explain: %w", err)
				}
			}
			progress(len(chunk))
		}
	}
	// Maps waiting for their method's range over the whole step.
	stateChanged := false
	for k, meth := range methods {
		if len(deferred[k]) == 0 {
			continue
		}
		var all [][]float32
		for _, d := range deferred[k] {
			all = append(all, d.m)
		}
		sc := rangeOf(all...)
		if sc.Valid() {
			fixed[k] = sc
			if cfg.Scale.Mode == ScaleRun {
				state.Scales[meth.Name()+"/"+layer] = savedScale{Min: sc.Min, Max: sc.Max, Step: cfg.Step}
				stateChanged = true
			}
		}
		for _, d := range deferred[k] {
			if err := writeMap(k, pairs[d.pair], d.m, d.h, d.w, 1, sc); err != nil {
				return res, fmt.Errorf("explain: %w", err)
			}
		}
	}
	if stateChanged {
		if err := state.write(w.Dir()); err != nil {
			return res, fmt.Errorf("explain: %w", err)
		}
	}
	if cfg.Scale.Mode != ScaleImage {
		res.Scales = map[string][2]float64{}
		for k, meth := range methods {
			if fixed[k].Valid() {
				res.Scales[meth.Name()] = [2]float64{fixed[k].Min, fixed[k].Max}
			}
		}
	}
	var mdNames []string
	var mdReports []*metrics.Report
	for k, meth := range methods {
		if len(reports[k]) == 0 {
			continue
		}
		rep := metrics.Summarize(reports[k])
		if err := rep.Write(w, cfg.Step, meth.Name()); err != nil {
			return res, fmt.Errorf("explain: %w", err)
		}
		if res.Metrics == nil {
			res.Metrics = map[string]*metrics.Report{}
		}
		res.Metrics[meth.Name()] = rep
		mdNames, mdReports = append(mdNames, meth.Name()), append(mdReports, rep)
	}
	if err := writeSummary(w, m, res, pairs, scores, probs, cfg, metricsTable(mdNames, mdReports, cfg)); err != nil {
		return res, fmt.Errorf("explain: %w", err)
	}
	return res, nil
}

// splitFeaturemaps removes "featuremaps" from the method names and says
// whether it was there.
func splitFeaturemaps(names []string) ([]string, bool) {
	var out []string
	found := false
	for _, n := range names {
		if strings.TrimSpace(n) == "featuremaps" {
			found = true
			continue
		}
		out = append(out, n)
	}
	return out, found
}

// writeFeaturemaps draws the feature maps of cfg.FeatureLayers (default:
// the target layer) for the batch and writes them to w.
func writeFeaturemaps(ctx context.Context, m *tfmodel.Model, eng engine.Engine, input string, batch *imageio.Batch, names []string, layer string, w *tbwriter.Writer, cfg Config, res *Result) error {
	fl := []string{layer}
	if len(cfg.FeatureLayers) > 0 {
		fl = fl[:0]
		for _, spec := range cfg.FeatureLayers {
			l, err := resolveLayer(ctx, m, eng, input, batch.Tensor, spec)
			if err != nil {
				return err
			}
			fl = append(fl, l)
		}
	}
	fm, err := featuremaps.Compute(ctx, eng, input, fl, batch.Tensor, cfg.Featuremaps)
	if err != nil {
		return err
	}
	if err := fm.Write(w, cfg.Step, names); err != nil {
		return err
	}
	for i := range batch.Paths {
		for _, l := range fm.Layers {
			mp := l.Images[i]
			res.FeatureMaps = append(res.FeatureMaps, FeatureMap{Image: batch.Paths[i], Layer: l.Name, Channels: mp.Channels, Tags: featuremaps.Tags(l.Name, names[i], len(mp.Pages))})
		}
	}
	return nil
}

// metricsInput is the metrics.Input of one chunk's maps, with the
// chunk's boxes and original image sizes for the pointing game.
func metricsInput(images, maps *tensor.Tensor, classes []int, chunk []pair, batch *imageio.Batch, boxes metrics.Boxes) *metrics.Input {
	in := &metrics.Input{Images: images, Maps: maps, Classes: classes}
	if len(boxes) == 0 {
		return in
	}
	in.Regions = make([][]metrics.Region, len(chunk))
	in.Sizes = make([]image.Point, len(chunk))
	for j, p := range chunk {
		in.Regions[j] = boxes.Regions(batch.Paths[p.row])
		in.Sizes[j] = batch.Originals[p.row].Bounds().Size()
	}
	return in
}

// anyBoxes reports whether some image of paths has a box.
func anyBoxes(boxes metrics.Boxes, paths []string) bool {
	for _, p := range paths {
		if len(boxes.For(p)) > 0 {
			return true
		}
	}
	return false
}

// metricsTable is the summary's metrics section ("" without metrics).
func metricsTable(names []string, reports []*metrics.Report, cfg Config) string {
	if len(reports) == 0 {
		return ""
	}
	steps := cfg.MetricsConfig.Steps
	if steps <= 0 {
		steps = 100
	}
	return fmt.Sprintf("\n**metrics** (%d deletion/insertion steps, pointing-game tolerance %g px; Petsiuk et al. 2018, Chattopadhyay et al. 2018, Zhang et al. 2016)\n\n%s",
		steps, cfg.MetricsConfig.Tolerance, metrics.Markdown(names, reports))
}

// writeSummary writes the probability scalars and the text summary.
func writeSummary(w *tbwriter.Writer, m *tfmodel.Model, res *Result, pairs []pair, scores *tensor.Tensor, probs [][]float64, cfg Config, metricsMD string) error {
	k := cfg.TopK
	if k <= 0 {
		k = 5
	}
	top := cam.TopK(scores, k)
	var sb strings.Builder
	fmt.Fprintf(&sb, "**model** `%s` (%s), **output** `%s`, **score** `%s`, **layer** `%s`, **step** %d, **scale** %s\n\n", m.Dir, m.Format, res.Output, res.Score, res.Layer, cfg.Step, cfg.Scale)
	sb.WriteString("| image | target | top classes |\n|---|---|---|\n")
	for _, p := range pairs {
		r := res.Images[p.result]
		var cells []string
		for _, c := range top[p.row] {
			cells = append(cells, fmt.Sprintf("%s %.3f", labelOr(cfg.Labels, c), probs[p.row][c]))
		}
		fmt.Fprintf(&sb, "| %s | %s (%.3f, rank %d) | %s |\n", p.name, labelOr(cfg.Labels, r.Target.Class), r.Target.Score, r.Target.Rank, strings.Join(cells, ", "))
		if err := w.Scalar("prob/"+p.name, cfg.Step, r.Target.Score); err != nil {
			return err
		}
	}
	if len(res.Scales) > 0 {
		sb.WriteString("\n**scales** (raw units):")
		for _, name := range slices.Sorted(maps.Keys(res.Scales)) {
			s := res.Scales[name]
			fmt.Fprintf(&sb, " %s %.4g…%.4g;", name, s[0], s[1])
		}
		sb.WriteString("\n")
	}
	sb.WriteString(metricsMD)
	for _, e := range res.Errors {
		fmt.Fprintf(&sb, "\n- error: %s", e)
	}
	for _, e := range res.Skipped {
		fmt.Fprintf(&sb, "\n- skipped: %s", e)
	}
	return w.Text("summary", cfg.Step, sb.String())
}

// pickOutput returns the signature output to explain: key when given,
// else the only output, else the only float 2-D output.
func pickOutput(sig tfmodel.SignatureInfo, key string) (tfmodel.TensorInfo, error) {
	list := func() string {
		var s []string
		for _, o := range sig.Outputs {
			s = append(s, fmt.Sprintf("%s (tensor %s, %s %s)", o.Key, o.Tensor, o.DType, tensor.ShapeString(o.Shape)))
		}
		return strings.Join(s, ", ")
	}
	if key != "" {
		for _, o := range sig.Outputs {
			if o.Key == key {
				return o, nil
			}
		}
		return tfmodel.TensorInfo{}, fmt.Errorf("signature %s has no output %q; outputs: %s", sig.Name, key, list())
	}
	if len(sig.Outputs) == 1 {
		return sig.Outputs[0], nil
	}
	var cand []tfmodel.TensorInfo
	for _, o := range sig.Outputs {
		if o.DType.IsFloat() && len(o.Shape) == 2 {
			cand = append(cand, o)
		}
	}
	if len(cand) == 1 {
		return cand[0], nil
	}
	return tfmodel.TensorInfo{}, fmt.Errorf("signature %s has %d outputs and %d of them are float [batch, classes]; choose one by key (Output, --output): %s", sig.Name, len(sig.Outputs), len(cand), list())
}

// predict runs the score tensor over images in chunks of bs (default 32).
func predict(ctx context.Context, eng engine.Engine, input, score string, images *tensor.Tensor, bs int) (*tensor.Tensor, error) {
	if bs <= 0 {
		bs = 32
	}
	n := images.Shape[0]
	var out *tensor.Tensor
	for off := 0; off < n; off += bs {
		c := min(bs, n-off)
		per := images.Len() / n
		part := tensor.FromFloat32(images.F32[off*per:(off+c)*per], append([]int{c}, images.Shape[1:]...)...)
		res, err := eng.Run(ctx, map[string]*tensor.Tensor{input: part}, []string{score})
		if err != nil {
			return nil, err
		}
		s := res[0]
		if s.Rank() != 2 || s.Shape[0] != c || !s.DType.IsFloat() || s.Shape[1] < 1 {
			return nil, fmt.Errorf("score tensor %s is %s %s for %d images; need [batch, classes] float", score, s.DType, tensor.ShapeString(s.Shape), c)
		}
		if out == nil {
			out = tensor.New(tensor.Float32, n, s.Shape[1])
		}
		k := s.Shape[1]
		for i := range c * k {
			out.F32[off*k+i] = float32(s.Float(i))
		}
	}
	return out, nil
}

// gather copies the images of chunk's pairs into one batch.
func gather(images *tensor.Tensor, chunk []pair) (*tensor.Tensor, []int) {
	per := images.Len() / images.Shape[0]
	t := tensor.New(tensor.Float32, append([]int{len(chunk)}, images.Shape[1:]...)...)
	classes := make([]int, len(chunk))
	for j, p := range chunk {
		copy(t.F32[j*per:(j+1)*per], images.F32[p.row*per:(p.row+1)*per])
		classes[j] = p.class
	}
	return t, classes
}

// rowOf returns row i of a [B, K] tensor as a [1, K] tensor.
func rowOf(t *tensor.Tensor, i int) *tensor.Tensor {
	k := t.Shape[1]
	return tensor.FromFloat32(t.F32[i*k:(i+1)*k], 1, k)
}

// rankOrder returns each class's rank (1 = most probable; ties by lower
// index, as cam.TopK).
func rankOrder(p []float64) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	rank := make([]int, len(p))
	for r, c := range idx {
		rank[c] = r + 1
	}
	return rank
}

// imageNames returns the tag name of each path: the base name without
// extension, with "_2", "_3", ... appended to repeats.
func imageNames(paths []string) []string {
	out := make([]string, len(paths))
	seen := map[string]bool{}
	for i, p := range paths {
		n := imageName(p)
		if seen[n] {
			for k := 2; ; k++ {
				if c := n + "_" + strconv.Itoa(k); !seen[c] {
					n = c
					break
				}
			}
		}
		seen[n] = true
		out[i] = n
	}
	return out
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
	name := ep.String()
	for _, l := range spatial {
		if l.Name == name {
			return name, nil
		}
	}
	// Not one of the listed layers (each scope's last node): check its
	// value is spatial.
	out, err := eng.Run(ctx, map[string]*tensor.Tensor{input: sample}, []string{name})
	if err != nil {
		return "", fmt.Errorf("layer %q (%s): %w", spec, name, err)
	}
	if a := out[0]; a.Rank() != 4 || !a.DType.IsFloat() || a.Shape[1]*a.Shape[2] < 1 {
		var names []string
		for _, l := range spatial {
			names = append(names, l.Name)
		}
		if len(names) > 12 {
			names = append([]string{"..."}, names[len(names)-12:]...)
		}
		return "", fmt.Errorf("layer %q (%s, op %s) is %s %s, not a spatial [batch, height, width, channels] activation; spatial layers: %s", spec, name, ep.Node.Op, a.DType, tensor.ShapeString(a.Shape), strings.Join(names, ", "))
	}
	return name, nil
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
	seen := map[string]bool{}
	for _, n := range names {
		meth, err := cam.ByName(strings.TrimSpace(n))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !seen[meth.Name()] {
			seen[meth.Name()] = true
			out = append(out, meth)
		}
	}
	return out, errors.Join(errs...)
}

// renderPanel draws original | heatmap | overlay for the h×w×c map m,
// normalising one-channel maps with sc when it is valid, else per map.
func renderPanel(orig image.Image, m []float32, h, w, c int, cmap render.Colormap, alpha float64, method string, t Target, sc render.Scale) image.Image {
	b := orig.Bounds()
	H, W := b.Dy(), b.Dx()
	caption := fmt.Sprintf("%s: %s %.3f", method, t.Label, t.Score)
	if t.Label == "" {
		caption = fmt.Sprintf("%s: class %d %.3f", method, t.Class, t.Score)
	}
	if c == 3 {
		g := render.GradientImage(m, h, w, c)
		return render.Panel([]image.Image{orig, g}, []string{"input", caption}, render.Options{})
	}
	heat := render.Normalizer{Scale: sc}.Normalize(render.Upsample(m, h, w, H, W, nil), nil)
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
