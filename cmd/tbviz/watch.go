package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/imageio"
	"github.com/tbviz/tbviz/vizhooks/watch"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "watch",
		Usage:     "explain every new SavedModel export or checkpoint of a training run, at its step",
		ArgsUsage: "DIR",
		Description: "Watches DIR (recursively, with file system notifications, or with --poll on network file systems)\n" +
			"for new SavedModel exports (Keras model.save/model.export, tf.saved_model.save, Estimator\n" +
			"export/<timestamp>) and, with --graph, TF checkpoints (ckpt-N.index + data shards), waits until\n" +
			"each is complete and unchanged for --settle, and writes the same panels, probability scalars\n" +
			"and summary as `tbviz explain` at that item's step.\n\n" +
			"Step, in order of precedence: --step-regex on the path relative to DIR; the names (ckpt-1200,\n" +
			"step_1200, epoch_05, export/1699999999, cp-0005.ckpt); a step variable in the bundle (step,\n" +
			"global_step, optimizer/iter, save_counter); else a counter. A step already written is not\n" +
			"written again.\n\n" +
			"Restart-safe: LOGDIR/.tbviz-watch.json records what was processed; a restart (even after\n" +
			"kill -9) neither repeats nor skips an item. Ctrl-C abandons the item in progress (it is redone\n" +
			"on the next start). A corrupt item is retried --retries times with backoff, then reported and\n" +
			"recorded as failed (retried only when its files change).\n\n" +
			"Examples:\n  tbviz watch runs/exp1/export --logdir runs/exp1/viz --images cat.png --methods gradcam,layercam\n" +
			"  tbviz watch ckpts --graph export/1 --logdir viz --images cat.png --poll 5s\n" +
			"  tbviz watch runs/exp1/export --logdir viz --images cat.png --once   # cron/CI",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "logdir", Usage: "TensorBoard logdir (required)"},
			&cli.StringSliceFlag{Name: "images", Usage: "image `PATH`s (PNG, JPEG, GIF, WebP, BMP, TIFF), comma separated or repeated (required)"},
			&cli.StringFlag{Name: "run", Usage: "run sub-directory inside the logdir"},
			&cli.StringSliceFlag{Name: "methods", Value: cli.NewStringSlice("gradcam"), Usage: "methods, comma separated, or all"},
			&cli.StringFlag{Name: "layer", Usage: "target layer: Keras name, unique suffix (conv2d_23), tensor name, #index; default: suggested"},
			&cli.StringFlag{Name: "class", Value: "top1", Usage: "target: class index, label name, or topK; a comma list gives one per image"},
			&cli.StringFlag{Name: "labels", Usage: "label `FILE`, one class name per line"},
			&cli.StringFlag{Name: "input-range", Value: "auto", Usage: "model input range: auto | 0,1 | 0,255 | -1,1"},
			&cli.BoolFlag{Name: "softmax", Usage: "differentiate the softmax output instead of the logits before it"},
			&cli.StringFlag{Name: "scale", Value: "image", Usage: "heatmap normalisation: image | batch | fixed:LO,HI | fixed:HI"},
			&cli.StringFlag{Name: "colormap", Value: "jet", Usage: "jet, viridis, inferno, turbo, gray, magma, plasma"},
			&cli.StringFlag{Name: "graph", Usage: "SavedModel `DIR` whose graph TF checkpoints (which carry none) are loaded into; without it checkpoints are ignored"},
			&cli.Int64Flag{Name: "every", Usage: "process an item only when its step is at least `N` away from every step written (0: all)"},
			&cli.DurationFlag{Name: "poll", Usage: "scan DIR at this interval instead of using file system notifications (for network file systems), e.g. 5s"},
			&cli.DurationFlag{Name: "settle", Value: watch.DefaultSettle, Usage: "how long an item's files must stay unchanged before it is read"},
			&cli.StringFlag{Name: "step-regex", Usage: "regular expression on the item's path relative to DIR whose group (?P<step>...) or only group is the step"},
			&cli.IntFlag{Name: "workers", Value: 1, Usage: "items processed at once"},
			&cli.IntFlag{Name: "retries", Value: watch.DefaultRetries, Usage: "retries of a failing item, with backoff doubling from 1 s, before it is recorded as failed"},
			&cli.BoolFlag{Name: "once", Usage: "process the items present now and exit (non-zero if one failed)"},
			&cli.StringFlag{Name: "state", Usage: "state `FILE` (default LOGDIR/.tbviz-watch.json)"},
		}, engineFlags()...),
		Action: runWatch,
	})
}

// watchProcessor explains each item with explain.Run.
type watchProcessor struct {
	c      *cli.Context
	images []string
	cfg    explain.Config
	graph  *tfmodel.Model // --graph, for checkpoints

	mu        sync.Mutex // guards the error writer and rangeSaid
	rangeSaid bool
}

func runWatch(c *cli.Context) error {
	if args, ok := flagsAfterDir(c); ok {
		return c.App.RunContext(c.Context, args)
	}
	if c.NArg() != 1 {
		return fmt.Errorf("watch: want one DIR to watch, got %d arguments: %s", c.NArg(), strings.Join(c.Args().Slice(), " "))
	}
	for _, f := range []string{"logdir", "images"} {
		if !c.IsSet(f) {
			return fmt.Errorf("watch: --%s is required", f)
		}
	}
	dir := c.Args().First()
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
	if scale.Mode == explain.ScaleRun {
		return errors.New("--scale run: not supported by watch (each checkpoint is explained on its own); use image, batch or fixed")
	}
	images := splitList(c.StringSlice("images"))
	if len(images) == 0 {
		return errors.New("no images: give --images PATH[,PATH...]")
	}
	for _, p := range images {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("--images: %w", err)
		}
	}
	targets, err := explain.ParseChoices(c.String("class"), labels)
	if err != nil {
		return fmt.Errorf("--class: %w", err)
	}
	if len(targets) > 1 && len(targets) != len(images) {
		return fmt.Errorf("--class %s: %d targets for %d images; give one target for all or one per image", c.String("class"), len(targets), len(images))
	}
	if _, ok := engines[engineName(c)]; !ok {
		return fmt.Errorf("--engine %q: not in this binary (have %s)", engineName(c), strings.Join(engineNames(), ", "))
	}
	p := &watchProcessor{c: c, images: images, cfg: explain.Config{Methods: splitList(c.StringSlice("methods")), Layer: c.String("layer"),
		Labels: labels, Range: rng, Softmax: c.Bool("softmax"), Colormap: c.String("colormap"), Scale: scale, Targets: targets}}
	if g := c.String("graph"); g != "" {
		if p.graph, err = tfmodel.Load(g, loadOptions(c)); err != nil {
			return fmt.Errorf("--graph: %w", err)
		}
	}
	cfg := watch.Config{Dir: dir, Logdir: c.String("logdir"), Run: c.String("run"), State: c.String("state"), Poll: c.Duration("poll"),
		Settle: c.Duration("settle"), StepRegex: c.String("step-regex"), Workers: c.Int("workers"), Once: c.Bool("once"),
		Checkpoints: p.graph != nil, Every: c.Int64("every"), Retries: c.Int("retries"), OnEvent: p.report,
		BundleStep: func(prefix string) (int64, bool, error) {
			s, _, ok, err := tfmodel.CheckpointStep(prefix)
			return s, ok, err
		}}
	if cfg.Retries == 0 {
		cfg.Retries = -1 // --retries 0 means none; watch.Config's zero means the default
	}
	if cfg.Settle <= 0 {
		return fmt.Errorf("--settle %v: want a positive duration", cfg.Settle)
	}
	if cfg.Workers < 1 {
		return fmt.Errorf("--workers %d: want at least 1", cfg.Workers)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mode := "file system notifications"
	if cfg.Poll > 0 {
		mode = "polling every " + cfg.Poll.String()
	}
	if cfg.Once {
		mode = "once"
	}
	kinds := "SavedModels"
	if cfg.Checkpoints {
		kinds = "SavedModels and checkpoints (graph " + c.String("graph") + ")"
	}
	fmt.Fprintf(c.App.ErrWriter, "tbviz: watching %s for %s (%s); writing to %s\n", dir, kinds, mode, c.String("logdir"))
	err = watch.Watch(ctx, cfg, p)
	samples := 0
	if n, _, _, rerr := explain.MaxImageSteps(c.String("logdir")); rerr == nil {
		samples = explain.SamplesFor(n)
	}
	fmt.Fprintf(c.App.ErrWriter, "tbviz: view with: %s\n", explain.TensorBoardCommand(c.String("logdir"), samples))
	return err
}

// flagsAfterDir supports `tbviz watch DIR --logdir ...`: urfave/cli stops
// parsing flags at the first argument, so when flags follow DIR it returns
// the command line with DIR moved to the end, to be run again. Each such
// rewrite leaves fewer flags after the first argument, so it ends.
func flagsAfterDir(c *cli.Context) ([]string, bool) {
	tail := c.Args().Slice()
	if len(tail) < 2 || !strings.HasPrefix(tail[1], "-") || tail[1] == "--" {
		return nil, false
	}
	lineage := c.Lineage()
	if len(lineage) < 2 {
		return nil, false
	}
	all := lineage[1].Args().Slice() // "watch" and everything after it
	i := len(all) - len(tail)
	if i < 1 || all[i] != tail[0] {
		return nil, false
	}
	args := append([]string{c.App.Name}, all[:i]...)
	args = append(args, all[i+1:]...)
	return append(args, all[i]), true
}

func engineName(c *cli.Context) string {
	if n := c.String("engine"); n != "" {
		return n
	}
	return "native"
}

// Process loads the item (a SavedModel, or a checkpoint into --graph),
// explains the images with it and writes at the item's step.
func (p *watchProcessor) Process(ctx context.Context, it watch.Item, w *tbwriter.Writer) error {
	var m *tfmodel.Model
	var err error
	switch it.Kind {
	case watch.SavedModel:
		m, err = tfmodel.Load(it.Path, loadOptions(p.c))
	case watch.Checkpoint:
		if p.graph == nil {
			return watch.Permanent(fmt.Errorf("%s: a checkpoint carries no graph; give --graph SAVEDMODEL", it.Path))
		}
		if m, err = tfmodel.LoadCheckpoint(p.graph, it.Path); err != nil {
			// The bundle was validated before: what is left is a
			// mismatch with the graph, which retrying cannot fix.
			return watch.Permanent(fmt.Errorf("--graph %s: %w", p.c.String("graph"), err))
		}
	default:
		return watch.Permanent(fmt.Errorf("%s: unknown item kind %q", it.Path, it.Kind))
	}
	if err != nil {
		return err
	}
	eng, err := engines[engineName(p.c)].New(m, p.c.String("device"))
	if err != nil {
		return watch.Permanent(fmt.Errorf("%s: %s engine: %w", it.Path, engineName(p.c), err))
	}
	defer eng.Close()
	cfg := p.cfg
	cfg.Step = it.Step
	cfg.Range = p.inputRange(m)
	res, err := explain.Run(ctx, m, eng, p.images, w, cfg)
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d problem(s): %w", len(res.Errors), errors.Join(res.Errors...))
	}
	return nil
}

// inputRange resolves --input-range auto for m, saying once on stderr
// which range is used.
func (p *watchProcessor) inputRange(m *tfmodel.Model) imageio.Range {
	if p.cfg.Range != (imageio.Range{}) {
		return p.cfg.Range
	}
	r := imageio.Range01
	why := "default: the graph does not rescale its input; set --input-range if the model expects 0,255 or -1,1"
	if lo, hi, reason, ok := m.InputScale(); ok {
		r, why = imageio.Range{Lo: lo, Hi: hi}, reason
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.rangeSaid {
		p.rangeSaid = true
		fmt.Fprintf(p.c.App.ErrWriter, "tbviz: input range %g,%g (%s)\n", r.Lo, r.Hi, why)
	}
	return r
}

// report prints watch events on stderr, one line each.
func (p *watchProcessor) report(e watch.Event) {
	it := e.Item
	name := it.Rel
	if it.Kind != "" && e.Status != watch.Incomplete && e.Status != watch.Deleted {
		name = fmt.Sprintf("%s (%s, step %d from %s)", it.Rel, it.Kind, it.Step, it.StepSource)
	}
	var line string
	switch e.Status {
	case watch.Started:
		return
	case watch.Done:
		line = fmt.Sprintf("%s: written in %s", name, e.Duration.Round(time.Millisecond))
	case watch.Retrying:
		line = fmt.Sprintf("%s: attempt %d failed, will retry: %v", name, e.Attempt, e.Err)
	case watch.Failed:
		line = fmt.Sprintf("%s: FAILED after %d attempt(s), moving on: %v", name, e.Attempt, e.Err)
	default:
		line = fmt.Sprintf("%s: %s", name, e.Status)
		if e.Err != nil {
			line += ": " + e.Err.Error()
		}
	}
	if it.Rel == "" && e.Err != nil {
		line = "scan: " + e.Err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.c.App.ErrWriter, "tbviz: watch:", line)
}
