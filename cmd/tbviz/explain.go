package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/vizhooks/cam"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/imageio"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "explain",
		Usage:     "compute CAM heatmaps for images and write them to a TensorBoard logdir",
		ArgsUsage: " ",
		Description: "Loads a SavedModel or TF.js graph-model, predicts each image, and writes one panel\n" +
			"(input | heatmap | overlay) per method and image under the tag <method>/<layer>/<image>,\n" +
			"the target probability as the scalar prob/<image>, and a text summary.\n\n" +
			"Methods: " + strings.Join(cam.Names(), ", ") + " (or all).\n\n" +
			"Example:\n  tbviz explain --model ./saved_model --images cat.png,dog.jpg --logdir runs/viz --methods gradcam,layercam",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "SavedModel or TF.js graph-model `DIR`", Required: true},
			&cli.StringSliceFlag{Name: "images", Usage: "image `PATH`s (PNG, JPEG, GIF, WebP, BMP, TIFF)", Required: true},
			&cli.StringFlag{Name: "logdir", Usage: "TensorBoard logdir", Required: true},
			&cli.StringFlag{Name: "run", Usage: "run sub-directory inside the logdir"},
			&cli.Int64Flag{Name: "step", Usage: "TensorBoard step"},
			&cli.StringSliceFlag{Name: "methods", Value: cli.NewStringSlice("gradcam"), Usage: "methods, comma separated, or all"},
			&cli.StringFlag{Name: "layer", Usage: "target layer: Keras name, unique suffix (conv2d_23), #index; default: suggested"},
			&cli.StringFlag{Name: "class", Value: "top1", Usage: "target class index, label name, or top1"},
			&cli.StringFlag{Name: "labels", Usage: "label `FILE`, one class name per line"},
			&cli.StringFlag{Name: "input-range", Value: "auto", Usage: "model input range: auto | 0,1 | 0,255 | -1,1 (auto: 0,255 when the graph rescales by 1/255 or 1/127.5 itself, else 0,1)"},
			&cli.BoolFlag{Name: "softmax", Usage: "differentiate the softmax output instead of the logits"},
			&cli.StringFlag{Name: "colormap", Value: "jet", Usage: "jet, viridis, inferno, turbo, gray, magma, plasma"},
			&cli.StringFlag{Name: "raw-out", Usage: "also write each map's raw values (before normalisation) as <image>_<method>_<layer>.npy into `DIR`"},
			&cli.StringFlag{Name: "png-out", Usage: "also write each panel as <image>_<method>_<layer>.png into `DIR`"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON: {logdir, run, step, layer, images: [{image, target: {class, label, score}, maps: [{method, layer, tag, raw}]}]}"},
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
			cfg := explain.Config{Methods: splitList(c.StringSlice("methods")), Layer: c.String("layer"), Labels: labels, Range: rng,
				Softmax: c.Bool("softmax"), Colormap: c.String("colormap"), Step: c.Int64("step"), Class: -1,
				RawOut: c.String("raw-out"), PNGOut: c.String("png-out")}
			if cl := c.String("class"); cl != "top1" {
				cfg.Class, err = parseClass(cl, labels)
				if err != nil {
					return err
				}
			}
			return runExplain(c, c.String("model"), splitList(c.StringSlice("images")), c.String("logdir"), c.String("run"), cfg, c.Bool("json"))
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
			cfg := explain.Config{Methods: []string{"all"}, Labels: labels, Range: imageio.Range01, Class: -1, CAM: cam.Options{MaxChannels: 16}}
			return runExplain(c, model, images, c.String("logdir"), "cifar10", cfg, false)
		},
	})
}

func runExplain(c *cli.Context, modelDir string, images []string, logdir, run string, cfg explain.Config, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	m, eng, err := loadModel(c, modelDir)
	if err != nil {
		return err
	}
	defer eng.Close()
	cfg.Range = inputRange(c, m, cfg.Range)
	root, err := tbwriter.NewWriter(logdir, nil)
	if err != nil {
		return err
	}
	w := root
	if run != "" {
		if w, err = root.Run(run); err != nil {
			root.Close()
			return err
		}
	}
	res, runErr := explain.Run(ctx, m, eng, images, w, cfg)
	if err := root.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if res != nil {
		for _, e := range res.Errors {
			fmt.Fprintln(c.App.ErrWriter, "tbviz: warning:", e)
		}
	}
	if runErr != nil {
		return runErr
	}
	if asJSON {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"logdir": logdir, "run": run, "step": cfg.Step, "layer": res.Layer, "images": res.Images})
	}
	for _, im := range res.Images {
		fmt.Fprintf(c.App.Writer, "%s: %s (class %d, p=%.3f), %d maps\n", im.Image, im.Target.Label, im.Target.Class, im.Target.Score, len(im.Maps))
	}
	fmt.Fprintf(c.App.Writer, "layer %s\nwrote %s\nview with: tensorboard --logdir %s\n", res.Layer, w.Dir(), logdir)
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

func parseClass(s string, labels []string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
		if n < 0 {
			return 0, fmt.Errorf("--class %s: must be a non-negative index, a label name or top1", s)
		}
		return n, nil
	}
	for i, l := range labels {
		if l == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("--class %q: not an index, not top1, and not a label in --labels (%d labels)", s, len(labels))
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
