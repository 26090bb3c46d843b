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
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/featuremaps"
	"github.com/tbviz/tbviz/vizhooks/imageio"
	"github.com/tbviz/tbviz/vizhooks/render"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "featuremaps",
		Usage:     "write layer activations as grids of channel tiles, and their histograms, to a TensorBoard logdir",
		ArgsUsage: " ",
		Description: "Runs the model once on the images, fetching every --layer, and writes for each layer and image\n" +
			"a grid of the selected channels (one captioned tile per channel) under the tag\n" +
			"featuremaps/<layer>/<image> (/p0, /p1, ... when the channels fill several pages), and the\n" +
			"histogram of the layer's activations over all images as activations/<layer>.\n\n" +
			"Example:\n  tbviz featuremaps --model ./saved_model --images cat.png --layer conv2d_1,conv2d_2 --channels top:16 --logdir runs/fm",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "SavedModel or TF.js graph-model `DIR`", Required: true},
			&cli.StringSliceFlag{Name: "images", Usage: "image `PATH`s (PNG, JPEG, GIF, WebP, BMP, TIFF)", Required: true},
			&cli.StringFlag{Name: "logdir", Usage: "TensorBoard logdir", Required: true},
			&cli.StringSliceFlag{Name: "layer", Usage: "layers, comma separated: Keras name, unique suffix (conv2d_23), tensor name or #index; default: the suggested CAM layer"},
			&cli.StringFlag{Name: "channels", Value: "all", Usage: "channels shown: all | first:N | top:N (largest mean activation on each image) | a list such as 0,5,7-9"},
			&cli.StringFlag{Name: "normalize", Value: "channel", Usage: "tile normalisation: channel (each tile min-max) | layer (one range for all tiles of an image)"},
			&cli.StringFlag{Name: "colormap", Value: "gray", Usage: strings.Join(render.ColormapNames(), ", ")},
			&cli.IntFlag{Name: "page-size", Value: 64, Usage: "most tiles on one grid image; more channels go to further pages"},
			&cli.StringFlag{Name: "run", Usage: "run sub-directory inside the logdir"},
			&cli.Int64Flag{Name: "step", Usage: "TensorBoard step"},
			&cli.StringFlag{Name: "input-range", Value: "auto", Usage: "model input range: auto | 0,1 | 0,255 | -1,1"},
			&cli.StringFlag{Name: "png-out", Usage: "also write each grid as <image>_<layer>[_p<N>].png into `DIR`"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON: {logdir, run, step, layers: [{layer, shape, images: [{image, channels, tags, pngs}]}]}"},
		}, engineFlags()...),
		Action: runFeaturemaps,
	})
}

// featuremapsLayerJSON is one layer of `tbviz featuremaps --json`.
type featuremapsLayerJSON struct {
	Layer  string                 `json:"layer"`
	Shape  []int                  `json:"shape"`
	Images []featuremapsImageJSON `json:"images"`
}

// featuremapsImageJSON is one image of one layer of `--json`.
type featuremapsImageJSON struct {
	Image    string   `json:"image"`
	Channels []int    `json:"channels"`
	Tags     []string `json:"tags"`
	PNGs     []string `json:"pngs,omitempty"`
}

func runFeaturemaps(c *cli.Context) error {
	sel, err := featuremaps.ParseChannels(c.String("channels"))
	if err != nil {
		return fmt.Errorf("--channels: %w", err)
	}
	norm, err := featuremaps.ParseNormalize(c.String("normalize"))
	if err != nil {
		return fmt.Errorf("--normalize: %w", err)
	}
	cmap, err := render.ColormapByName(c.String("colormap"))
	if err != nil {
		return fmt.Errorf("--colormap: %w", err)
	}
	if ps := c.Int("page-size"); ps < 1 || ps > 4096 {
		return fmt.Errorf("--page-size %d: want 1 to 4096 tiles a page", ps)
	}
	rng, err := parseRangeFlag(c.String("input-range"))
	if err != nil {
		return err
	}
	paths := splitList(c.StringSlice("images"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	m, eng, err := loadModel(c, c.String("model"))
	if err != nil {
		return err
	}
	defer eng.Close()
	if len(m.Signature.Inputs) != 1 {
		return fmt.Errorf("featuremaps: signature %s has %d inputs; need one image input", m.Signature.Name, len(m.Signature.Inputs))
	}
	in := m.Signature.Inputs[0]
	if len(in.Shape) != 4 || in.Shape[1] <= 0 || in.Shape[2] <= 0 {
		return fmt.Errorf("featuremaps: input %s has shape %v; need [batch, height, width, channels] with known height and width", in.Key, in.Shape)
	}
	rng = inputRange(c, m, rng)
	batch, err := imageio.LoadBatch(paths, in.Shape[1], in.Shape[2], in.Shape[3], rng)
	if batch != nil {
		for _, e := range batch.Errs {
			fmt.Fprintln(c.App.ErrWriter, "tbviz: warning:", e)
		}
	}
	if err != nil {
		return fmt.Errorf("featuremaps: %w", err)
	}
	names, err := resolveLayers(ctx, m, eng, in.Tensor, batch.Tensor, splitList(c.StringSlice("layer")))
	if err != nil {
		return fmt.Errorf("featuremaps: %w", err)
	}
	cfg := featuremaps.Config{Channels: sel, Normalize: norm, Colormap: cmap, PageSize: c.Int("page-size")}
	res, err := featuremaps.Compute(ctx, eng, in.Tensor, names, batch.Tensor, cfg)
	if err != nil {
		return err
	}
	imgNames := make([]string, len(batch.Paths))
	for i, p := range batch.Paths {
		imgNames[i] = fmImageName(p)
	}

	logdir, run, step := c.String("logdir"), c.String("run"), c.Int64("step")
	w, err := runWriter(logdir, run)
	if err != nil {
		return err
	}
	writeErr := res.Write(w, step, imgNames)
	if err := w.Close(); err != nil && writeErr == nil {
		writeErr = err
	}
	if writeErr != nil {
		return writeErr
	}

	out := make([]featuremapsLayerJSON, len(res.Layers))
	pngDir := c.String("png-out")
	if pngDir != "" {
		if err := os.MkdirAll(pngDir, 0o755); err != nil {
			return fmt.Errorf("--png-out: %w", err)
		}
	}
	for li, l := range res.Layers {
		out[li] = featuremapsLayerJSON{Layer: l.Name, Shape: l.Activations.Shape[1:]}
		for i, mp := range l.Images {
			ij := featuremapsImageJSON{Image: batch.Paths[i], Channels: mp.Channels, Tags: featuremaps.Tags(l.Name, imgNames[i], len(mp.Pages))}
			if pngDir != "" {
				for p, pg := range mp.Pages {
					base := imgNames[i] + "_" + l.Name
					if len(mp.Pages) > 1 {
						base += fmt.Sprintf("_p%d", p)
					}
					path := filepath.Join(pngDir, fmFileSafe(base)+".png")
					if err := writePNGFile(path, pg); err != nil {
						return fmt.Errorf("--png-out: %w", err)
					}
					ij.PNGs = append(ij.PNGs, path)
				}
			}
			out[li].Images = append(out[li].Images, ij)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"logdir": logdir, "run": run, "step": step, "layers": out})
	}
	for _, l := range out {
		pages := 0
		for _, im := range l.Images {
			pages += len(im.Tags)
		}
		fmt.Fprintf(c.App.Writer, "%s %s: %d channels shown per image (%s), %d grid images\n", l.Layer, tensor.ShapeString(l.Shape), len(l.Images[0].Channels), sel, pages)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s\nview with: tensorboard --logdir %s\n", w.Dir(), logdir)
	return nil
}

// resolveLayers turns layer specs into tensor names (layers.ResolveIn,
// with index specs counted over the spatial layers of a one-image pass);
// no spec means the suggested CAM layer.
func resolveLayers(ctx context.Context, m *tfmodel.Model, eng engine.Engine, input string, images *tensor.Tensor, specs []string) ([]string, error) {
	per := images.Len() / images.Shape[0]
	sample := tensor.FromFloat32(images.F32[:per], append([]int{1}, images.Shape[1:]...)...)
	spatial, err := layers.Spatial(ctx, eng, m.Graph, input, sample)
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		l, err := layers.Suggest(m.Graph, spatial)
		if err != nil {
			return nil, fmt.Errorf("no --layer given and %w", err)
		}
		return []string{l.Name}, nil
	}
	var out []string
	for _, s := range specs {
		ep, err := layers.ResolveIn(m.Graph, s, spatial)
		if err != nil {
			return nil, fmt.Errorf("--layer %s: %w", s, err)
		}
		out = append(out, ep.String())
	}
	return out, nil
}

func fmImageName(p string) string {
	base := filepath.Base(p)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// fmFileSafe replaces characters that are awkward in file names by '_'.
func fmFileSafe(s string) string {
	return strings.NewReplacer("/", "_", ":", "_", " ", "_", "\\", "_").Replace(s)
}

// writePNGFile PNG-encodes img into a new file at path.
func writePNGFile(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
