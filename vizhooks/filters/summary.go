package filters

import (
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// SummaryOptions controls WriteSummaries. The zero value writes pages of
// 64 cells, at least 96 pixels each.
type SummaryOptions struct {
	// Step is the TensorBoard step.
	Step int64
	// PerPage is the number of cells per grid page: 0 means 64.
	PerPage int
	// MinCell is the smallest cell side in the grid; smaller images are
	// enlarged by an integer factor (nearest neighbour): 0 means 96.
	MinCell int
	// Name overrides the layer name in the tags (e.g. the name the user
	// gave); empty means Result.Layer.
	Name string
}

// Tag returns the tag prefix of a layer, "filters/<layer>".
func Tag(layer string) string { return "filters/" + layer }

// ChannelTag returns the per-channel image tag, "filters/<layer>/ch0007".
// The scalar with the final objective is ChannelTag + "/activation".
func ChannelTag(layer string, channel int) string {
	return fmt.Sprintf("%s/ch%04d", Tag(layer), channel)
}

// Grids lays the units out in pages of perPage cells (0: 64), captioned
// "ch N: value" with the final objective. Every page has the same size:
// the last one is padded with blank cells.
func (r *Result) Grids(perPage, minCell int) []*image.RGBA {
	if perPage <= 0 {
		perPage = 64
	}
	if minCell <= 0 {
		minCell = 96
	}
	f := max(1, (minCell+r.Size-1)/r.Size)
	n := min(perPage, len(r.Units))
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	var pages []*image.RGBA
	for lo := 0; lo < len(r.Units); lo += perPage {
		cells := make([]image.Image, n)
		caps := make([]string, n)
		for i := lo; i < min(lo+perPage, len(r.Units)); i++ {
			cells[i-lo] = enlarge(r.Image(i), f)
			caps[i-lo] = fmt.Sprintf("ch %d: %.3g", r.Units[i].Channel, r.Units[i].Final)
		}
		pages = append(pages, render.Grid(cells, caps, cols, render.Options{}))
	}
	return pages
}

// WriteSummaries writes a Result to TensorBoard: the grid under
// Tag(layer) (one sample per page), each unit's image under
// ChannelTag(layer, c), its final objective as the scalar
// ChannelTag(layer, c)+"/activation", and a text summary of the settings
// under Tag(layer)+"/settings".
func WriteSummaries(w *tbwriter.Writer, r *Result, opts SummaryOptions) error {
	name := opts.Name
	if name == "" {
		name = r.Layer
	}
	tag := Tag(name)
	pages := r.Grids(opts.PerPage, opts.MinCell)
	imgs := make([]image.Image, len(pages))
	for i, p := range pages {
		imgs[i] = p
	}
	if err := w.Image(tag, opts.Step, imgs...); err != nil {
		return fmt.Errorf("filters: write %s: %w", tag, err)
	}
	for i, u := range r.Units {
		ct := ChannelTag(name, u.Channel)
		if err := w.Image(ct, opts.Step, r.Image(i)); err != nil {
			return fmt.Errorf("filters: write %s: %w", ct, err)
		}
		if err := w.Scalar(ct+"/activation", opts.Step, u.Final); err != nil {
			return fmt.Errorf("filters: write %s/activation: %w", ct, err)
		}
	}
	if err := w.Text(tag+"/settings", opts.Step, r.Markdown()); err != nil {
		return fmt.Errorf("filters: write %s/settings: %w", tag, err)
	}
	return nil
}

// Markdown describes the run's settings and per-unit values as a table.
func (r *Result) Markdown() string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "**filter visualization** of `%s`\n\n", r.Layer)
	opt := "Adam"
	if c.Optimizer == NormalizedGradient {
		opt = "L2-normalised gradient"
	}
	fmt.Fprintf(&b, "| setting | value |\n|---|---|\n| objective | %v |\n| steps | %d |\n| size | %d |\n| regularizers | %v |\n| optimizer | %s, lr %g |\n| seed | %d |\n",
		c.Objective.Kind, c.Steps, r.Size, c.Regularizers, opt, c.LR, c.Seed)
	fmt.Fprintf(&b, "| jitter / scale / rotate | %g px / %g / %g° |\n| blur | σ %g every %d steps |\n| TV / L2 weight | %g / %g |\n\n",
		c.JitterPx, c.ScaleAmount, c.RotateDeg, c.BlurSigma, c.BlurEvery, c.TVWeight, c.L2Weight)
	b.WriteString("| channel | objective on noise | final |\n|---|---|---|\n")
	for _, u := range r.Units {
		fmt.Fprintf(&b, "| %d | %.4g | %.4g |\n", u.Channel, u.Start, u.Final)
	}
	return b.String()
}

// enlarge scales img up by an integer factor, nearest neighbour.
func enlarge(img *image.RGBA, f int) *image.RGBA {
	if f == 1 {
		return img
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w*f, h*f))
	for y := range h * f {
		src := img.Pix[(y/f)*img.Stride:]
		dst := out.Pix[y*out.Stride:]
		for x := range w * f {
			copy(dst[4*x:4*x+4], src[4*(x/f):4*(x/f)+4])
		}
	}
	return out
}
