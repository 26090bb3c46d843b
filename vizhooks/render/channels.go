package render

import (
	"fmt"
	"image"
	"math"
	"strconv"
)

// GridOptions configures ChannelGrid. The zero value shows every tile in
// grey, each channel normalised on its own, 64 tiles a page, tiles at
// least 32 px, captioned with the channel index.
type GridOptions struct {
	// Options lays out each page (padding, colours, font, title).
	Options
	// Colormap colours the tiles; nil means Gray.
	Colormap Colormap
	// PerLayer normalises all selected channels by their common minimum
	// and maximum, so tiles compare with each other; by default each
	// channel is min-max normalised on its own.
	PerLayer bool
	// Scale, when valid, is a fixed value range used instead of either
	// min-max normalisation (see Normalizer).
	Scale Scale
	// PerPage is the most tiles on one page; 0 means 64.
	PerPage int
	// MinTile is the least tile size in pixels: maps smaller than this
	// are enlarged by an integer factor (nearest neighbour) so that their
	// longer side reaches it; 0 means 32, a negative value means no
	// enlarging.
	MinTile int
	// NoCaptions drops the channel-index captions.
	NoCaptions bool
}

// Limits on ChannelGrid's arguments, so that a bad flag cannot make it
// allocate gigabytes.
const (
	maxPerPage    = 4096
	maxMinTile    = 1024
	maxPagePixels = 1 << 28
)

// ChannelGrid renders the selected channels of one feature map act, h×w
// with c channels last (HWC, one image of an NHWC batch), as pages of
// captioned tiles: tile k of page p shows channel channels[p·PerPage+k].
// channels nil means all c channels in order. Each page is a Grid with
// ceil(√tiles) columns.
//
// It returns an error naming the argument at fault when a size is not
// positive, len(act) is not h·w·c, a channel index is out of range or an
// option is absurd.
func ChannelGrid(act []float32, h, w, c int, channels []int, opts GridOptions) ([]*image.RGBA, error) {
	if h <= 0 || w <= 0 || c <= 0 {
		return nil, fmt.Errorf("channel grid: feature map size %dx%dx%d must be positive", h, w, c)
	}
	if len(act) != h*w*c {
		return nil, fmt.Errorf("channel grid: %d values for a %dx%dx%d feature map", len(act), h, w, c)
	}
	if channels == nil {
		channels = make([]int, c)
		for i := range channels {
			channels[i] = i
		}
	}
	for i, ch := range channels {
		if ch < 0 || ch >= c {
			return nil, fmt.Errorf("channel grid: channel %d (entry %d) out of range: the map has %d channels (0..%d)", ch, i, c, c-1)
		}
	}
	perPage := opts.PerPage
	if perPage == 0 {
		perPage = 64
	}
	if perPage < 0 || perPage > maxPerPage {
		return nil, fmt.Errorf("channel grid: %d tiles per page, want 1..%d", opts.PerPage, maxPerPage)
	}
	minTile := opts.MinTile
	if minTile == 0 {
		minTile = 32
	}
	if minTile > maxMinTile {
		return nil, fmt.Errorf("channel grid: minimum tile %d px, want at most %d", opts.MinTile, maxMinTile)
	}
	factor := 1
	if minTile > max(h, w) {
		factor = (minTile + max(h, w) - 1) / max(h, w)
	}
	th, tw := h*factor, w*factor
	if cols := int(math.Ceil(math.Sqrt(float64(min(perPage, len(channels)))))); cols*cols*th*tw > maxPagePixels {
		return nil, fmt.Errorf("channel grid: a page of %d %dx%d tiles is too large (over %d pixels)", min(perPage, len(channels)), tw, th, maxPagePixels)
	}
	cmap := opts.Colormap
	if cmap == nil {
		cmap = Gray
	}
	norm := Normalizer{Scale: opts.Scale}
	if opts.PerLayer && !opts.Scale.Valid() {
		// When the layer is constant this range is not valid and each
		// (then constant) channel normalises to zeros on its own.
		norm.Scale = layerRange(act, c, channels)
	}

	plane := make([]float32, h*w)
	var normed []float32
	var pages []*image.RGBA
	for start := 0; start < len(channels); start += perPage {
		sel := channels[start:min(start+perPage, len(channels))]
		cells := make([]image.Image, len(sel))
		var captions []string
		if !opts.NoCaptions {
			captions = make([]string, len(sel))
		}
		for k, ch := range sel {
			for j := range plane {
				plane[j] = act[j*c+ch]
			}
			normed = norm.Normalize(plane, normed)
			cells[k] = enlarge(Heatmap(normed, h, w, cmap), factor)
			if captions != nil {
				captions[k] = strconv.Itoa(ch)
			}
		}
		pages = append(pages, Grid(cells, captions, 0, opts.Options))
	}
	return pages, nil
}

// layerRange returns the finite minimum and maximum over the selected
// channels.
func layerRange(act []float32, c int, channels []int) Scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	for p := 0; p < len(act); p += c {
		for _, ch := range channels {
			v := float64(act[p+ch])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	return Scale{Min: lo, Max: hi}
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
