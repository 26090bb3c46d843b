// Package featuremaps renders the activations of any layers of a model as
// grids of channel tiles and writes them, with the layer's activation
// histogram, to a TensorBoard logdir.
//
// Compute runs one forward pass that fetches every requested layer, selects
// channels per image (all, the first N, the top N by mean activation on
// that image, or a list) and lays the selected channels out as paged grids
// (render.ChannelGrid): each tile is one channel, normalised on its own or
// with the whole layer, coloured by a colormap and captioned with its
// channel index.
//
// Tag scheme (Result.Write): "featuremaps/<layer>/<image>" for a grid, with
// "/p<N>" appended (N from 0) when an image's channels fill several pages;
// "activations/<layer>" for the histogram of all the layer's activations
// over the batch, one per step, so that drift over training shows in
// TensorBoard's histogram dashboard.
package featuremaps

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// Mode says how channels are selected.
type Mode uint8

const (
	// All selects every channel in order.
	All Mode = iota
	// First selects channels 0..N-1.
	First
	// Top selects, for each image, the N channels with the largest mean
	// activation over the spatial positions, largest first (ties by lower
	// index).
	Top
	// List selects the channels of Channels.List, in that order.
	List
)

// Channels is a channel selection. The zero value selects all channels.
type Channels struct {
	Mode Mode
	// N is the count for First and Top; a layer with fewer channels shows
	// them all.
	N int
	// List holds the channel indices for List.
	List []int
}

// String returns the selection in ParseChannels' syntax.
func (s Channels) String() string {
	switch s.Mode {
	case First:
		return "first:" + strconv.Itoa(s.N)
	case Top:
		return "top:" + strconv.Itoa(s.N)
	case List:
		parts := make([]string, len(s.List))
		for i, c := range s.List {
			parts[i] = strconv.Itoa(c)
		}
		return strings.Join(parts, ",")
	}
	return "all"
}

// MaxListed bounds the number of channels a list selection may name (after
// expanding ranges), so a typo like 0-999999999 cannot allocate gigabytes.
const MaxListed = 1 << 16

// ParseChannels parses a selection: "all" (or ""), "first:N", "top:N", or a
// comma-separated list of channel indices and inclusive ranges such as
// "0,5,7-9".
func ParseChannels(s string) (Channels, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "all":
		return Channels{}, nil
	case strings.HasPrefix(s, "first:"), strings.HasPrefix(s, "top:"):
		kind, num, _ := strings.Cut(s, ":")
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n <= 0 {
			return Channels{}, fmt.Errorf("channels %q: %s:N needs a positive count N", s, kind)
		}
		if kind == "first" {
			return Channels{Mode: First, N: n}, nil
		}
		return Channels{Mode: Top, N: n}, nil
	}
	var list []int
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 {
			return Channels{}, fmt.Errorf("channels %q: entry %d %q is not a channel index, a range a-b, all, first:N or top:N", s, i+1, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return Channels{}, fmt.Errorf("channels %q: range %q must be a-b with 0 <= a <= b", s, part)
			}
		}
		if len(list)+b-a+1 > MaxListed {
			return Channels{}, fmt.Errorf("channels %q: more than %d channels listed", s, MaxListed)
		}
		for c := a; c <= b; c++ {
			list = append(list, c)
		}
	}
	return Channels{Mode: List, List: list}, nil
}

// Select returns the channel indices chosen from a map of c channels; act
// (h·w·c values, HWC) is only read by Top. It is an error for a List index
// to be outside 0..c-1, or for N to be non-positive.
func (s Channels) Select(act []float32, c int) ([]int, error) {
	switch s.Mode {
	case All:
		return seq(c), nil
	case First:
		if s.N <= 0 {
			return nil, fmt.Errorf("channels first:%d: N must be positive", s.N)
		}
		return seq(min(s.N, c)), nil
	case Top:
		if s.N <= 0 {
			return nil, fmt.Errorf("channels top:%d: N must be positive", s.N)
		}
		if c <= 0 || len(act)%c != 0 {
			return nil, fmt.Errorf("channels top:%d: %d values do not divide into %d channels", s.N, len(act), c)
		}
		mean := make([]float64, c)
		for p := 0; p < len(act); p += c {
			for ch := range c {
				mean[ch] += float64(act[p+ch])
			}
		}
		idx := seq(c)
		sort.SliceStable(idx, func(i, j int) bool {
			a, b := mean[idx[i]], mean[idx[j]]
			if math.IsNaN(b) {
				return !math.IsNaN(a)
			}
			return a > b
		})
		return idx[:min(s.N, c)], nil
	case List:
		if len(s.List) == 0 {
			return nil, fmt.Errorf("channels: empty list")
		}
		for i, ch := range s.List {
			if ch < 0 || ch >= c {
				return nil, fmt.Errorf("channels: channel %d (entry %d) out of range: the layer has %d channels (0..%d)", ch, i+1, c, c-1)
			}
		}
		return append([]int(nil), s.List...), nil
	}
	return nil, fmt.Errorf("channels: unknown mode %d", s.Mode)
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Normalize says how tile values are mapped to the colormap.
type Normalize uint8

const (
	// PerChannel min-max normalises each channel on its own (the default).
	PerChannel Normalize = iota
	// PerLayer normalises all selected channels of an image by their
	// common minimum and maximum, so tiles compare with each other.
	PerLayer
)

// ParseNormalize parses "channel" (or "") and "layer".
func ParseNormalize(s string) (Normalize, error) {
	switch strings.TrimSpace(s) {
	case "", "channel", "per-channel":
		return PerChannel, nil
	case "layer", "per-layer":
		return PerLayer, nil
	}
	return 0, fmt.Errorf("normalize %q: want channel or layer", s)
}

// String returns "channel" or "layer".
func (n Normalize) String() string {
	if n == PerLayer {
		return "layer"
	}
	return "channel"
}

// Config selects what Compute renders. The zero value shows every channel,
// each normalised on its own, in grey, 64 tiles a page.
type Config struct {
	// Channels selects the channels shown.
	Channels Channels
	// Normalize is per channel (default) or per layer.
	Normalize Normalize
	// Colormap colours the tiles; nil means grey.
	Colormap render.Colormap
	// PageSize is the most tiles on one grid image; 0 means 64.
	PageSize int
	// Scale, when valid (Max > Min), is a fixed value range used instead
	// of min-max normalisation, so that grids compare across steps.
	Scale render.Scale
	// MinTile is the least tile size in pixels (see render.GridOptions);
	// 0 means 32.
	MinTile int
}

// MaxLayers bounds the number of layers one Compute call fetches.
const MaxLayers = 256

// Result holds what Compute produced, layer by layer in the requested
// order.
type Result struct {
	Layers []Layer
}

// Layer holds one layer's activations and grids.
type Layer struct {
	// Name is the layer's tensor name, as requested.
	Name string
	// Activations are the raw [B, h, w, c] float32 activations.
	Activations *tensor.Tensor
	// Images holds, per image of the batch, the selected channels and
	// their grid pages.
	Images []Maps
}

// Maps is one image's grids for one layer.
type Maps struct {
	// Channels are the selected channel indices, in tile order.
	Channels []int
	// Pages are the grid images; tile k of page p shows
	// Channels[p·PageSize+k].
	Pages []image.Image
}

// Compute feeds images (a [B, H, W, C] float32 batch, preprocessed as the
// model expects) to the input tensor, fetches every layer in one forward
// pass, and renders each image's selected channels of each layer. Each
// layer's output must be a 4-D NHWC float tensor with B rows.
func Compute(ctx context.Context, eng engine.Engine, input string, layers []string, images *tensor.Tensor, cfg Config) (*Result, error) {
	switch {
	case eng == nil:
		return nil, fmt.Errorf("featuremaps: no engine")
	case input == "":
		return nil, fmt.Errorf("featuremaps: no input tensor name")
	case len(layers) == 0:
		return nil, fmt.Errorf("featuremaps: no layers")
	case len(layers) > MaxLayers:
		return nil, fmt.Errorf("featuremaps: %d layers, at most %d at once", len(layers), MaxLayers)
	case images == nil || images.Rank() != 4 || images.Shape[0] < 1:
		var shape string
		if images != nil {
			shape = tensor.ShapeString(images.Shape)
		}
		return nil, fmt.Errorf("featuremaps: images must be a [B, H, W, C] batch of at least one image, got %s", shape)
	}
	for i, l := range layers {
		if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("featuremaps: layer %d has an empty name", i+1)
		}
	}
	opts := render.GridOptions{Colormap: cfg.Colormap, PerLayer: cfg.Normalize == PerLayer, Scale: cfg.Scale, PerPage: cfg.PageSize, MinTile: cfg.MinTile}
	outs, err := eng.Run(ctx, map[string]*tensor.Tensor{input: images}, layers)
	if err != nil {
		return nil, fmt.Errorf("featuremaps: run %s: %w", strings.Join(layers, ", "), err)
	}
	if len(outs) != len(layers) {
		return nil, fmt.Errorf("featuremaps: engine returned %d tensors for %d layers", len(outs), len(layers))
	}
	b := images.Shape[0]
	res := &Result{}
	for li, t := range outs {
		name := layers[li]
		if t == nil || t.Rank() != 4 || !t.DType.IsFloat() {
			desc := "nil"
			if t != nil {
				desc = t.DType.String() + tensor.ShapeString(t.Shape)
			}
			return nil, fmt.Errorf("featuremaps: layer %s outputs %s; need a 4-D [batch, height, width, channels] float feature map (pick a convolutional layer)", name, desc)
		}
		if t.Shape[0] != b {
			return nil, fmt.Errorf("featuremaps: layer %s has batch size %d for %d images", name, t.Shape[0], b)
		}
		if t.DType != tensor.Float32 {
			if t, err = t.Cast(tensor.Float32); err != nil {
				return nil, fmt.Errorf("featuremaps: layer %s: %w", name, err)
			}
		}
		h, w, c := t.Shape[1], t.Shape[2], t.Shape[3]
		layer := Layer{Name: name, Activations: t, Images: make([]Maps, b)}
		per := h * w * c
		for i := range b {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("featuremaps: %w", err)
			}
			act := t.F32[i*per : (i+1)*per]
			sel, err := cfg.Channels.Select(act, c)
			if err != nil {
				return nil, fmt.Errorf("featuremaps: layer %s: %w", name, err)
			}
			pages, err := render.ChannelGrid(act, h, w, c, sel, opts)
			if err != nil {
				return nil, fmt.Errorf("featuremaps: layer %s image %d: %w", name, i, err)
			}
			m := Maps{Channels: sel, Pages: make([]image.Image, len(pages))}
			for p, pg := range pages {
				m.Pages[p] = pg
			}
			layer.Images[i] = m
		}
		res.Layers = append(res.Layers, layer)
	}
	return res, nil
}

// Tags returns the image tags of one image's pages of a layer:
// "featuremaps/<layer>/<image>" for a single page, and that tag followed by
// "/p0", "/p1", ... when there are several.
func Tags(layer, image string, pages int) []string {
	base := "featuremaps/" + layer + "/" + image
	if pages == 1 {
		return []string{base}
	}
	out := make([]string, pages)
	for p := range out {
		out[p] = base + "/p" + strconv.Itoa(p)
	}
	return out
}

// Write writes every grid page and each layer's activation histogram to w
// at step. names[i] names image i of the batch in the tags (usually the
// file's base name without extension); it must have one entry per image.
func (r *Result) Write(w *tbwriter.Writer, step int64, names []string) error {
	for _, l := range r.Layers {
		if len(names) != len(l.Images) {
			return fmt.Errorf("featuremaps: write: %d image names for %d images", len(names), len(l.Images))
		}
		for i, m := range l.Images {
			for p, tag := range Tags(l.Name, names[i], len(m.Pages)) {
				if err := w.Image(tag, step, m.Pages[p]); err != nil {
					return fmt.Errorf("featuremaps: write %s: %w", tag, err)
				}
			}
		}
		vals := make([]float64, len(l.Activations.F32))
		for j, v := range l.Activations.F32 {
			vals[j] = float64(v)
		}
		if err := w.Histogram("activations/"+l.Name, step, vals); err != nil {
			return fmt.Errorf("featuremaps: write activations/%s: %w", l.Name, err)
		}
	}
	return nil
}
