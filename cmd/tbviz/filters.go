package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tbviz/tbviz/internal/progress"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/vizhooks/filters"
)

// filtersJSON is the stable --json contract of `tbviz filters`.
type filtersJSON struct {
	Logdir string            `json:"logdir"`
	Run    string            `json:"run"`
	Step   int64             `json:"step"`
	Layer  string            `json:"layer"`
	Tag    string            `json:"tag"`
	Units  []filtersUnitJSON `json:"units"`
}

type filtersUnitJSON struct {
	Channel int     `json:"channel"`
	Tag     string  `json:"tag"`
	Start   float64 `json:"start"`
	Final   float64 `json:"final"`
	PNG     string  `json:"png,omitempty"`
}

// filtersMaxChannels bounds --channels.
const filtersMaxChannels = 1 << 16

func init() {
	commands = append(commands, &cli.Command{
		Name:  "filters",
		Usage: "visualize what channels of a layer respond to, by gradient ascent from noise, into TensorBoard",
		Description: "Optimises one image per channel to maximise the channel's mean activation (or a neuron, or a\n" +
			"class logit). By default the image is lucid's: a 1/f-scaled Fourier spectrum with decorrelated\n" +
			"colour through a sigmoid, optimised with Adam under random jitter, zoom and rotation;\n" +
			"--regularizers none gives the plain form (pixels, L2-normalised gradient steps).\n" +
			"Writes the grid under filters/<layer>, each image under filters/<layer>/chNNNN, its final\n" +
			"activation as the scalar filters/<layer>/chNNNN/activation, and the settings as text.\n\n" +
			"Example:\n  tbviz filters --model ./saved_model --layer conv2d_2 --channels 0-31 --logdir runs/viz",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "SavedModel or TF.js graph-model `DIR`", Required: true},
			&cli.StringFlag{Name: "layer", Usage: "target layer: Keras name, unique suffix (conv2d_2), tensor name, #index (not needed for --objective logit); tags use it as given (an #index: the node name)"},
			&cli.StringFlag{Name: "channels", Value: "0-15", Usage: "channels (or classes): list and ranges, e.g. 0-31 or 1,4,9-12"},
			&cli.StringFlag{Name: "logdir", Usage: "TensorBoard logdir", Required: true},
			&cli.StringFlag{Name: "run", Usage: "run sub-directory inside the logdir"},
			&cli.Int64Flag{Name: "step", Usage: "TensorBoard step"},
			&cli.IntFlag{Name: "steps", Value: 256, Usage: "gradient-ascent steps"},
			&cli.IntFlag{Name: "size", Usage: "image side in pixels (default: the model's input size)"},
			&cli.StringFlag{Name: "regularizers", Value: "default", Usage: "comma list of jitter, scale, rotate, blur, tv, l2, fourier, decorrelate; default (= fourier,decorrelate,jitter,scale,rotate); or none"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed (same seed, same images)"},
			&cli.Float64Flag{Name: "lr", Usage: "learning rate (default 0.05 for Adam, 0.02 for the plain form)"},
			&cli.StringFlag{Name: "objective", Value: "channel", Usage: "channel (mean activation), neuron (the centre position), or logit (class score; --channels are classes)"},
			&cli.IntFlag{Name: "batch", Value: 16, Usage: "images optimised together per engine call"},
			&cli.StringFlag{Name: "input-range", Value: "auto", Usage: "model input range: auto | 0,1 | 0,255 | -1,1"},
			&cli.StringFlag{Name: "png-out", Usage: "also write the grid and each image as PNG files into `DIR`"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON: {logdir, run, step, layer, tag, units: [{channel, tag, start, final, png}]}"},
		}, engineFlags()...),
		Action: runFilters,
	})
}

// parseFilterChannels parses "0-31", "1,4,9-12".
func parseFilterChannels(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("--channels %q: %q is not a channel or an increasing range like 0-31", s, part)
		}
		if b-a+1 > filtersMaxChannels-len(out) {
			return nil, fmt.Errorf("--channels %q: more than %d channels", s, filtersMaxChannels)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--channels %q: no channels", s)
	}
	return out, nil
}

func runFilters(c *cli.Context) error {
	chans, err := parseFilterChannels(c.String("channels"))
	if err != nil {
		return err
	}
	regs, err := filters.ParseRegularizers(c.String("regularizers"))
	if err != nil {
		return fmt.Errorf("--regularizers: %w", err)
	}
	if regs == filters.Default {
		regs = 0
	}
	cfg := filters.Config{Steps: c.Int("steps"), Size: c.Int("size"), Regularizers: regs, Seed: c.Uint64("seed"), LR: c.Float64("lr"), Batch: c.Int("batch")}
	if cfg.Steps < 1 {
		return fmt.Errorf("--steps %d: must be at least 1", cfg.Steps)
	}
	if cfg.Batch < 1 {
		return fmt.Errorf("--batch %d: must be at least 1", cfg.Batch)
	}
	switch c.String("objective") {
	case "channel":
	case "neuron":
		cfg.Objective = filters.Objective{Kind: filters.Neuron, Y: -1, X: -1}
	case "logit":
		cfg.Objective = filters.Objective{Kind: filters.Logit}
	default:
		return fmt.Errorf("--objective %q: want channel, neuron or logit", c.String("objective"))
	}
	if cfg.Objective.Kind != filters.Logit && c.String("layer") == "" {
		return fmt.Errorf("--layer is required for --objective %s", c.String("objective"))
	}
	rng, err := parseRangeFlag(c.String("input-range"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir := c.String("model")
	m, eng, err := loadModel(c, dir)
	if err != nil {
		return err
	}
	defer eng.Close()
	in, err := imageInput(m)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	rng = inputRange(c, m, rng)
	var target filters.Layer
	name := c.String("layer")
	if cfg.Objective.Kind == filters.Logit && name == "" {
		logits, err := layers.ScoreTensor(m.Graph, m.Signature.Outputs[0].Tensor, true)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		target = filters.Layer{Tensor: logits}
		name = "logits"
	} else {
		ep, err := layers.Resolve(m.Graph, name)
		if err != nil {
			return fmt.Errorf("--layer: %w", err)
		}
		if target, err = filters.LayerOf(m.Graph, ep.String()); err != nil {
			return err
		}
		// Tags use the name the user gave, which is short, unless it is
		// a position (#3, -1), which would change with the model.
		if name = strings.TrimSpace(name); strings.HasPrefix(name, "#") || strings.HasPrefix(name, "-") || (name[0] >= '0' && name[0] <= '9') {
			name = ep.Node.Name
		}
	}
	fin := filters.Input{Tensor: in.Tensor, Height: in.Shape[1], Width: in.Shape[2], Channels: in.Shape[3], Range: rng}
	bar := progress.New(os.Stderr, 1, "filters "+name)
	var last int
	cfg.Progress = func(done, total int) {
		if last == 0 {
			bar = progress.New(os.Stderr, total, "filters "+name)
		}
		bar.Add(done - last)
		last = done
	}
	res, err := filters.Run(ctx, eng, fin, target, chans, cfg)
	bar.Finish()
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	logdir, run := c.String("logdir"), c.String("run")
	w, err := runWriter(logdir, run)
	if err != nil {
		return err
	}
	step := c.Int64("step")
	werr := filters.WriteSummaries(w, res, filters.SummaryOptions{Step: step, Name: name})
	if err := w.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return werr
	}
	out := filtersJSON{Logdir: logdir, Run: run, Step: step, Layer: res.Layer, Tag: filters.Tag(name)}
	pngDir := c.String("png-out")
	if pngDir != "" {
		if err := os.MkdirAll(pngDir, 0o755); err != nil {
			return fmt.Errorf("--png-out: %w", err)
		}
		base := strings.NewReplacer("/", "_", ":", "_").Replace(name)
		for i, p := range res.Grids(0, 0) {
			if err := writeFilterPNG(filepath.Join(pngDir, fmt.Sprintf("%s_grid%d.png", base, i)), p); err != nil {
				return err
			}
		}
	}
	for i, u := range res.Units {
		uj := filtersUnitJSON{Channel: u.Channel, Tag: filters.ChannelTag(name, u.Channel), Start: u.Start, Final: u.Final}
		if pngDir != "" {
			uj.PNG = filepath.Join(pngDir, fmt.Sprintf("%s_ch%04d.png", strings.NewReplacer("/", "_", ":", "_").Replace(name), u.Channel))
			if err := writeFilterPNG(uj.PNG, res.Image(i)); err != nil {
				return err
			}
		}
		out.Units = append(out.Units, uj)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, u := range out.Units {
		fmt.Fprintf(c.App.Writer, "channel %4d: objective %.4g on noise, %.4g after %d steps\n", u.Channel, u.Start, u.Final, res.Config.Steps)
	}
	fmt.Fprintf(c.App.Writer, "layer %s\nwrote %s\nview with: tensorboard --logdir %s\n", res.Layer, w.Dir(), logdir)
	return nil
}

// writeFilterPNG writes img as a PNG file.
func writeFilterPNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--png-out: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("--png-out %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--png-out %s: %w", path, err)
	}
	return nil
}
