package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/internal/progress"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/vizhooks/cam"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/featuremaps"
	"github.com/tbviz/tbviz/vizhooks/imageio"
	"github.com/tbviz/tbviz/vizhooks/metrics"
)

const explainDescription = `Loads a SavedModel or TF.js graph-model, predicts each image, and writes into the
TensorBoard logdir (the run directory --run inside it):

  <method>/<layer>/<image>         panel (input | heatmap | overlay) for an image with one target
  <method>/<layer>/<image>/top<r>  panel for the r-th most probable class, when the target is topK, K > 1
  prob/<image>[/top<r>]            the target's probability (scalar)
  summary                          text: model, output, score tensor, layer, scale, top classes, metrics, errors
  featuremaps/<layer>/<image>[/pN] channel grids, when --methods names featuremaps (--feature-layers, --channels)
  activations/<layer>              activation histogram of each feature-map layer
  metrics/<method>/<metric>        with --metrics: deletion_auc, insertion_auc, average_drop,
                                   increase_in_confidence, pointing_game (with --boxes)

<image> is the file name without extension (_2, _3, ... added when two files share a name);
tags name ranks, not classes, so they keep their meaning across steps.

Targets (--class): a class index (3), a label name from --labels (cat), or topK (top1, top3);
a comma list gives one target per image, in --images order (3,7,top1). --targets FILE reads
CSV rows image,class instead of --images (relative paths from the file's directory).

Score: the --output of the signature (default: the only output, or the only float [batch, classes]
one). When it is a Softmax, the logits before it are differentiated; --softmax overrides.

Scale (--scale): image (each heatmap by its own min and max), batch (one range per method over
this step's maps), fixed:LO,HI or fixed:HI (raw map units, clipped), run (the range of the first
step written to this run, kept in ` + explain.ScaleFile + ` in the run directory and reused by later
steps, so change over training shows). Three-channel gradient images are always standardised.

A progress bar is drawn on stderr when it is a terminal. Images that do not decode, targets out of
range and methods that fail are reported (warnings, and the summary); the rest is written and the
exit status is 1. Under --methods all, methods that do not apply to the model (CAM without global
average pooling) are skipped with a note instead. The last line is the tensorboard command to run, with --samples_per_plugin
images=N when an image tag of the run has more than 10 steps (TensorBoard shows 10 by default).

Metrics (--metrics): deletion and insertion AUC (Petsiuk et al. 2018; --metric-steps steps, deletion to
zeros, insertion from a blurred image), average drop and increase in confidence on the image multiplied
by the map (Chattopadhyay et al. 2018), and the pointing game (Zhang et al. 2016) for images with boxes:
--boxes FILE holds CSV rows image,x0,y0,x1,y1 in original-image pixels (image: path, base name or base
name without extension; several rows per image allowed).

Methods: ` + "%s" + ` (or all), and featuremaps (not part of all).

Examples:
  tbviz explain --model ./saved_model --images cat.png,dog.jpg --logdir runs/viz --methods gradcam,layercam
  tbviz explain --model ./saved_model --images cat.png --labels labels.txt --class top3 --logdir runs/viz
  tbviz explain --model ./saved_model --targets val.csv --logdir runs --run epoch --step 5 --scale run
  tbviz explain --model ./saved_model --images cat.png --methods gradcam,scorecam,featuremaps --metrics --boxes boxes.csv --logdir runs/viz`

func init() {
	commands = append(commands, &cli.Command{
		Name:        "explain",
		Usage:       "compute CAM heatmaps for images and write them to a TensorBoard logdir",
		ArgsUsage:   " ",
		Description: fmt.Sprintf(explainDescription, strings.Join(cam.Names(), ", ")),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "SavedModel or TF.js graph-model `DIR`", Required: true},
			&cli.StringSliceFlag{Name: "images", Usage: "image `PATH`s (PNG, JPEG, GIF, WebP, BMP, TIFF), comma separated or repeated"},
			&cli.StringFlag{Name: "targets", Usage: "CSV `FILE` of image,class rows (class: index, label or topK), instead of --images"},
			&cli.StringFlag{Name: "logdir", Usage: "TensorBoard logdir", Required: true},
			&cli.StringFlag{Name: "run", Usage: "run sub-directory inside the logdir (only it gets an event file)"},
			&cli.Int64Flag{Name: "step", Usage: "TensorBoard step"},
			&cli.StringSliceFlag{Name: "methods", Value: cli.NewStringSlice("gradcam"), Usage: "methods, comma separated, or all (every method that applies to the model)"},
			&cli.StringFlag{Name: "layer", Usage: "target layer: Keras name, unique suffix (conv2d_23), tensor name, #index; default: suggested"},
			&cli.StringFlag{Name: "class", Value: "top1", Usage: "target: class index, label name, or topK (top1, top3: one map per top class, tags .../<image>/top<r>); a comma list gives one per image (3,7,top1)"},
			&cli.StringFlag{Name: "labels", Usage: "label `FILE`, one class name per line"},
			&cli.StringFlag{Name: "output", Usage: "signature output `KEY` to explain (default: the only output, or the only float [batch, classes] one)"},
			&cli.StringFlag{Name: "input-range", Value: "auto", Usage: "model input range: auto | 0,1 | 0,255 | -1,1 (auto: 0,255 when the graph rescales by 1/255 or 1/127.5 itself, else 0,1)"},
			&cli.BoolFlag{Name: "softmax", Usage: "differentiate the softmax output instead of the logits before it"},
			&cli.StringFlag{Name: "scale", Value: "image", Usage: "heatmap normalisation: image | batch | run | fixed:LO,HI | fixed:HI (raw units)"},
			&cli.StringFlag{Name: "colormap", Value: "jet", Usage: "jet, viridis, inferno, turbo, gray, magma, plasma"},
			&cli.StringFlag{Name: "raw-out", Usage: "also write each map's raw values (before normalisation) as <image>_<method>_<layer>.npy into `DIR` (<image>_top<r>_... for topK)"},
			&cli.StringFlag{Name: "png-out", Usage: "also write each panel as <image>_<method>_<layer>.png into `DIR`"},
			&cli.StringSliceFlag{Name: "feature-layers", Usage: "layers drawn by the featuremaps method (names as for --layer), comma separated; default: the target layer"},
			&cli.StringFlag{Name: "channels", Value: "all", Usage: "featuremaps channels: all | first:N | top:N | a list such as 0,5,7-9"},
			&cli.BoolFlag{Name: "metrics", Usage: "score every method's maps: deletion/insertion AUC, average drop, increase in confidence, pointing game (with --boxes)"},
			&cli.IntFlag{Name: "metric-steps", Value: 50, Usage: "deletion/insertion steps (one forward pass per image and step, each)"},
			&cli.StringFlag{Name: "boxes", Usage: "CSV `FILE` of image,x0,y0,x1,y1 object boxes in original-image pixels for the pointing game (implies --metrics)"},
			&cli.Float64Flag{Name: "pointing-tolerance", Value: 15, Usage: "pointing-game tolerance in original-image pixels (15 as in Zhang et al.)"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON: {logdir, run, step, layer, output, score, scales, tensorboard, images: [{image, target: {class, label, score, rank}, maps: [{method, layer, tag, raw}]}], featuremaps, metrics}, one images entry per (image, target)"},
		}, engineFlags()...),
		Action: func(c *cli.Context) error {
			rng, err := parseRangeFlag(c.String("input-range"))
			if err != nil {
				return err
			}
			var labels []string
			if f := c.String("labels"); f != "" {
				if labels, err = readLabels(f); err != nil {
					return err
				}
			}
			scale, err := explain.ParseScale(c.String("scale"))
			if err != nil {
				return fmt.Errorf("--scale: %w", err)
			}
			cfg := explain.Config{Methods: splitList(c.StringSlice("methods")), Layer: c.String("layer"), Labels: labels, Range: rng,
				Softmax: c.Bool("softmax"), Colormap: c.String("colormap"), Step: c.Int64("step"), Output: c.String("output"),
				Scale: scale, RawOut: c.String("raw-out"), PNGOut: c.String("png-out"), FeatureLayers: splitList(c.StringSlice("feature-layers"))}
			if cfg.Featuremaps.Channels, err = featuremaps.ParseChannels(c.String("channels")); err != nil {
				return fmt.Errorf("--channels: %w", err)
			}
			if err := metricsFlags(c, &cfg); err != nil {
				return err
			}
			images := splitList(c.StringSlice("images"))
			switch f := c.String("targets"); {
			case f != "" && len(images) > 0:
				return fmt.Errorf("--targets lists the images itself: give --images or --targets, not both")
			case f != "" && c.IsSet("class"):
				return fmt.Errorf("--targets gives each image's class: give --class or --targets, not both")
			case f != "":
				if images, cfg.Targets, err = explain.ReadTargetsCSV(f, labels); err != nil {
					return fmt.Errorf("--targets: %w", err)
				}
			case len(images) == 0:
				return fmt.Errorf("no images: give --images PATH[,PATH...] or --targets FILE")
			default:
				if cfg.Targets, err = explain.ParseChoices(c.String("class"), labels); err != nil {
					return fmt.Errorf("--class: %w", err)
				}
				if len(cfg.Targets) > 1 && len(cfg.Targets) != len(images) {
					return fmt.Errorf("--class %s: %d targets for %d images; give one target for all or one per image, in --images order", c.String("class"), len(cfg.Targets), len(images))
				}
			}
			return runExplain(c, c.String("model"), images, c.String("logdir"), c.String("run"), cfg, c.Bool("json"))
		},
	}, &cli.Command{
		Name:  "demo",
		Usage: "run the full job on the embedded CIFAR-10 example and print the TensorBoard command",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "logdir", Value: "demo-logs", Usage: "TensorBoard logdir to write"},
		},
		Action: func(c *cli.Context) error {
			tmp, err := os.MkdirTemp("", "tbviz-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			model, images, labelFile, err := cifar10.Extract(tmp)
			if err != nil {
				return err
			}
			labels, err := readLabels(labelFile)
			if err != nil {
				return err
			}
			cfg := explain.Config{Methods: []string{"all"}, Labels: labels, Range: imageio.Range01, Targets: []explain.Choice{{Top: 1}}, CAM: cam.Options{MaxChannels: 16}}
			return runExplain(c, model, images, c.String("logdir"), "cifar10", cfg, false)
		},
	})
}

// metricsFlags sets cfg's metrics from --metrics, --metric-steps, --boxes
// and --pointing-tolerance.
func metricsFlags(c *cli.Context, cfg *explain.Config) error {
	cfg.Metrics = c.Bool("metrics") || c.String("boxes") != ""
	if !cfg.Metrics {
		return nil
	}
	steps := c.Int("metric-steps")
	if steps < 1 || steps > metrics.MaxSteps {
		return fmt.Errorf("--metric-steps %d: want 1 to %d", steps, metrics.MaxSteps)
	}
	tol := c.Float64("pointing-tolerance")
	if tol < 0 || math.IsNaN(tol) || math.IsInf(tol, 0) {
		return fmt.Errorf("--pointing-tolerance %g: want a distance in pixels, 0 or more", tol)
	}
	cfg.MetricsConfig = metrics.Config{Steps: steps, Tolerance: tol}
	if f := c.String("boxes"); f != "" {
		b, err := metrics.ReadBoxes(f)
		if err != nil {
			return fmt.Errorf("--boxes: %w", err)
		}
		cfg.Boxes = b
	}
	return nil
}

func runExplain(c *cli.Context, modelDir string, images []string, logdir, run string, cfg explain.Config, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := runDir(logdir, run)
	if err != nil {
		return err
	}
	m, eng, err := loadModel(c, modelDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	cfg.Range = inputRange(c, m, cfg.Range)
	w, err := tbwriter.NewWriter(dir, nil)
	if err != nil {
		return err
	}
	var bar *progress.Bar
	last := 0
	cfg.Progress = func(done, total int) {
		if bar == nil {
			bar = progress.New(c.App.ErrWriter, total, "explain")
		}
		bar.Add(done - last)
		last = done
	}
	res, runErr := explain.Run(ctx, m, eng, images, w, cfg)
	bar.Finish()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if res != nil {
		for _, e := range res.Skipped {
			fmt.Fprintln(c.App.ErrWriter, "tbviz: skipped:", e)
		}
		for _, e := range res.Errors {
			fmt.Fprintln(c.App.ErrWriter, "tbviz: warning:", e)
		}
	}
	if runErr != nil {
		return runErr
	}
	samples := 0
	if n, sub, tag, err := explain.MaxImageSteps(dir); err != nil {
		fmt.Fprintln(c.App.ErrWriter, "tbviz: warning: reading back", dir+":", err)
	} else if samples = explain.SamplesFor(n); samples > 0 {
		fmt.Fprintf(c.App.ErrWriter, "tbviz: image tag %s of run %s has %d steps; TensorBoard shows %d per tag unless told otherwise\n",
			tag, filepath.ToSlash(filepath.Join(run, sub)), n, explain.TensorBoardImageSamples)
	}
	tb := explain.TensorBoardCommand(logdir, samples)
	if asJSON {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"logdir": logdir, "run": run, "step": cfg.Step, "layer": res.Layer, "output": res.Output, "score": res.Score,
			"scales": res.Scales, "tensorboard": tb, "images": res.Images, "featuremaps": res.FeatureMaps, "metrics": res.Metrics}); err != nil {
			return err
		}
	} else {
		for _, im := range res.Images {
			fmt.Fprintf(c.App.Writer, "%s: %s (class %d, rank %d, p=%.3f), %d maps\n", im.Image, im.Target.Label, im.Target.Class, im.Target.Rank, im.Target.Score, len(im.Maps))
		}
		for _, f := range res.FeatureMaps {
			fmt.Fprintf(c.App.Writer, "%s: feature maps of %s, %d channels, %d grid images\n", f.Image, f.Layer, len(f.Channels), len(f.Tags))
		}
		if len(res.Metrics) > 0 {
			var names []string
			var reps []*metrics.Report
			for _, n := range slices.Sorted(maps.Keys(res.Metrics)) {
				names, reps = append(names, n), append(reps, res.Metrics[n])
			}
			fmt.Fprintf(c.App.Writer, "\n%s\n", metrics.Markdown(names, reps))
		}
		fmt.Fprintf(c.App.Writer, "layer %s\nwrote %s\nview with: %s\n", res.Layer, w.Dir(), tb)
	}
	if n := len(res.Errors); n > 0 {
		return fmt.Errorf("explain: %d problem(s), see the warnings above; everything else was written", n)
	}
	return nil
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func readLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--labels: %w", err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, strings.TrimSpace(s.Text()))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("--labels %s: %w", path, err)
	}
	return out, nil
}

// parseRangeFlag parses --input-range; "auto" gives the zero Range, which
// inputRange resolves once the model is loaded.
func parseRangeFlag(s string) (imageio.Range, error) {
	if s == "auto" || s == "" {
		return imageio.Range{}, nil
	}
	r, err := imageio.ParseRange(s)
	if err != nil {
		return r, fmt.Errorf("--input-range: %w", err)
	}
	return r, nil
}

// inputRange resolves an automatic (zero) range from the graph and says on
// stderr which range is used and why.
func inputRange(c *cli.Context, m *tfmodel.Model, r imageio.Range) imageio.Range {
	if r != (imageio.Range{}) {
		return r
	}
	if lo, hi, reason, ok := m.InputScale(); ok {
		fmt.Fprintf(c.App.ErrWriter, "tbviz: input range %g,%g (%s)\n", lo, hi, reason)
		return imageio.Range{Lo: lo, Hi: hi}
	}
	fmt.Fprintln(c.App.ErrWriter, "tbviz: input range 0,1 (default: the graph does not rescale its input; set --input-range if the model expects 0,255 or -1,1)")
	return imageio.Range01
}
