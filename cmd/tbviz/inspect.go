package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/cam"
	"github.com/tbviz/tbviz/vizhooks/imageio"
)

// inspectJSON is the stable --json contract of `tbviz inspect`.
type inspectJSON struct {
	Format            string          `json:"format"`
	TensorFlowVersion string          `json:"tensorflow_version"`
	Signatures        []signatureJSON `json:"signatures"`
	Layers            []layerJSON     `json:"layers"`
	TargetLayer       string          `json:"target_layer"`
	Params            int             `json:"params"`
}

type signatureJSON struct {
	Name    string       `json:"name"`
	Inputs  []tensorJSON `json:"inputs"`
	Outputs []tensorJSON `json:"outputs"`
}

type tensorJSON struct {
	Name   string `json:"name"`
	Tensor string `json:"tensor"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
}

type layerJSON struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Shape  []int  `json:"shape"`
	Params int    `json:"params"`
}

// predictJSON is one element of the stable --json array of `tbviz predict`.
type predictJSON struct {
	Image string      `json:"image"`
	Top   []classJSON `json:"top"`
}

type classJSON struct {
	Class int     `json:"class"`
	Label string  `json:"label"`
	Score float64 `json:"score"`
}

func init() {
	commands = append(commands, &cli.Command{
		Name:      "inspect",
		Usage:     "show a model's format, signatures, layer table and suggested CAM target layer",
		ArgsUsage: "MODEL_DIR",
		Description: "--json prints one object: {format, tensorflow_version, signatures: [{name, inputs, outputs:\n" +
			"[{name, tensor, dtype, shape}]}], layers: [{name, op, shape, params}], target_layer, params}.\n\n" +
			"Example:\n  tbviz inspect ./saved_model",
		Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}}, engineFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: want exactly one MODEL_DIR, got %d arguments", c.NArg())
			}
			return inspect(c, c.Args().First(), c.Bool("json"))
		},
	}, &cli.Command{
		Name:      "predict",
		Usage:     "print the top-k classes of each image",
		ArgsUsage: "MODEL_DIR IMAGE...",
		Description: "Scores are softmax probabilities (computed from the logits when the model outputs logits).\n" +
			"--json prints [{image, top: [{class, label, score}]}].\n\n" +
			"Example:\n  tbviz predict --top 3 --labels labels.txt ./saved_model cat.png",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.IntFlag{Name: "top", Value: 5, Usage: "number of classes per image"},
			&cli.StringFlag{Name: "labels", Usage: "label `FILE`, one class name per line"},
			&cli.StringFlag{Name: "input-range", Value: "auto", Usage: "model input range: auto | 0,1 | 0,255 | -1,1"},
		}, engineFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 2 {
				return fmt.Errorf("predict: want MODEL_DIR and at least one IMAGE")
			}
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
			if c.Int("top") < 1 {
				return fmt.Errorf("--top %d: must be at least 1", c.Int("top"))
			}
			return predict(c, c.Args().First(), c.Args().Slice()[1:], c.Int("top"), labels, rng, c.Bool("json"))
		},
	})
}

func imageInput(m *tfmodel.Model) (tfmodel.TensorInfo, error) {
	if len(m.Signature.Inputs) != 1 {
		return tfmodel.TensorInfo{}, fmt.Errorf("signature %s has %d inputs; want one image input", m.Signature.Name, len(m.Signature.Inputs))
	}
	in := m.Signature.Inputs[0]
	if len(in.Shape) != 4 || in.Shape[1] <= 0 || in.Shape[2] <= 0 || (in.Shape[3] != 1 && in.Shape[3] != 3) {
		return in, fmt.Errorf("input %s has shape %v; want [batch, height, width, 1 or 3]", in.Key, in.Shape)
	}
	return in, nil
}

func inspect(c *cli.Context, dir string, asJSON bool) error {
	ctx, w := c.Context, c.App.Writer
	m, eng, err := loadModel(c, dir)
	if err != nil {
		return err
	}
	defer eng.Close()
	out := inspectJSON{Format: m.Format, TensorFlowVersion: m.TFVersion, Params: m.NumParams()}
	for _, s := range m.Signatures {
		sj := signatureJSON{Name: s.Name}
		for _, t := range s.Inputs {
			sj.Inputs = append(sj.Inputs, tensorJSON{t.Key, t.Tensor, t.DType.String(), t.Shape})
		}
		for _, t := range s.Outputs {
			sj.Outputs = append(sj.Outputs, tensorJSON{t.Key, t.Tensor, t.DType.String(), t.Shape})
		}
		out.Signatures = append(out.Signatures, sj)
	}
	var rows []layers.Row
	if in, err := imageInput(m); err == nil {
		sample := tensor.New(tensor.Float32, 1, in.Shape[1], in.Shape[2], in.Shape[3])
		if rows, err = layers.Table(ctx, eng, m.Graph, in.Tensor, sample); err != nil {
			return fmt.Errorf("%s: layer table: %w", dir, err)
		}
		spatial, err := layers.Spatial(ctx, eng, m.Graph, in.Tensor, sample)
		if err == nil {
			if l, err := layers.Suggest(m.Graph, spatial); err == nil {
				out.TargetLayer = l.Name
			}
		}
		for _, r := range rows {
			out.Layers = append(out.Layers, layerJSON{r.Name, r.Op, r.Shape, r.Params})
		}
		if out.Params == 0 {
			for _, r := range rows {
				out.Params += r.Params
			}
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "model     %s\nformat    %s\nwritten   TensorFlow %s\nparams    %d\n", dir, m.Format, orDash(m.TFVersion), out.Params)
	for _, s := range out.Signatures {
		fmt.Fprintf(w, "signature %s\n", s.Name)
		for _, t := range s.Inputs {
			fmt.Fprintf(w, "  input   %-20s %-40s %s %s\n", t.Name, t.Tensor, t.DType, tensor.ShapeString(t.Shape))
		}
		for _, t := range s.Outputs {
			fmt.Fprintf(w, "  output  %-20s %-40s %s %s\n", t.Name, t.Tensor, t.DType, tensor.ShapeString(t.Shape))
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w)
		if err := layers.WriteTable(w, rows); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nsuggested CAM target layer: %s\n", orDash(out.TargetLayer))
	return nil
}

func predict(c *cli.Context, dir string, paths []string, k int, labels []string, rng imageio.Range, asJSON bool) error {
	ctx, w, ew := c.Context, c.App.Writer, c.App.ErrWriter
	m, eng, err := loadModel(c, dir)
	if err != nil {
		return err
	}
	defer eng.Close()
	rng = inputRange(c, m, rng)
	in, err := imageInput(m)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	batch, err := imageio.LoadBatch(paths, in.Shape[1], in.Shape[2], in.Shape[3], rng)
	if batch != nil {
		for _, e := range batch.Errs {
			fmt.Fprintln(ew, "tbviz: warning:", e)
		}
	}
	if err != nil {
		return err
	}
	out := m.Signature.Outputs[0]
	logits, err := layers.ScoreTensor(m.Graph, out.Tensor, true)
	if err != nil {
		return err
	}
	res, err := eng.Run(ctx, map[string]*tensor.Tensor{in.Tensor: batch.Tensor}, []string{logits})
	if err != nil {
		return fmt.Errorf("%s: predict: %w", dir, err)
	}
	probs := cam.Softmax(res[0])
	top := cam.TopK(res[0], k)
	var results []predictJSON
	for i, p := range batch.Paths {
		r := predictJSON{Image: p}
		for _, c := range top[i] {
			r.Top = append(r.Top, classJSON{Class: c, Label: label(labels, c), Score: probs[i][c]})
		}
		results = append(results, r)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		fmt.Fprintf(w, "%s\n", filepath.Base(r.Image))
		sort.SliceStable(r.Top, func(a, b int) bool { return r.Top[a].Score > r.Top[b].Score })
		for _, t := range r.Top {
			fmt.Fprintf(w, "  %6.4f  %3d  %s\n", t.Score, t.Class, t.Label)
		}
	}
	return nil
}

func label(labels []string, c int) string {
	if c >= 0 && c < len(labels) {
		return labels[c]
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
