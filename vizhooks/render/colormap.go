package render

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"
)

// Colormap maps a value in [0, 1] to an opaque colour. Values outside
// [0, 1] are clamped; NaN maps to the colour of 0, consistent with the
// normalisers, which turn non-finite values into 0.
type Colormap interface {
	At(v float64) color.RGBA
}

// LUT is a 256-entry lookup-table colormap, the form matplotlib uses for
// every colormap (N = 256): At(v) returns entry floor(256·v), with v = 1
// mapping to the last entry, exactly as matplotlib's Colormap.__call__
// picks its bin. Entries are matplotlib's float colours rounded to the
// nearest 8-bit value.
type LUT struct {
	name string
	lut  [256]color.RGBA
}

// At returns the colour of v; see Colormap.
func (l *LUT) At(v float64) color.RGBA {
	return l.lut[lutIndex(v)]
}

// Name returns the colormap's name, as ColormapByName accepts it.
func (l *LUT) Name() string { return l.name }

// String returns the colormap's name.
func (l *LUT) String() string { return l.name }

func lutIndex(v float64) int {
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 1 {
		return 255
	}
	return min(int(v*256), 255)
}

func to8(f float64) uint8 {
	return uint8(math.Round(math.Max(0, math.Min(1, f)) * 255))
}

func listed(name string, data *[256][3]float64) *LUT {
	l := &LUT{name: name}
	for i, c := range data {
		l.lut[i] = color.RGBA{to8(c[0]), to8(c[1]), to8(c[2]), 255}
	}
	return l
}

// segment is one breakpoint of a matplotlib LinearSegmentedColormap
// channel: at x the channel is y (the y0 = y1 form; jet and gray have no
// discontinuities).
type segment struct{ x, y float64 }

// segmented builds the 256-entry table as matplotlib's
// _create_lookup_table does: channel values sampled by linear
// interpolation between breakpoints at x = i/255.
func segmented(name string, r, g, b []segment) *LUT {
	l := &LUT{name: name}
	interp := func(s []segment, x float64) float64 {
		for k := 1; k < len(s); k++ {
			if x <= s[k].x {
				t := (x - s[k-1].x) / (s[k].x - s[k-1].x)
				return s[k-1].y + t*(s[k].y-s[k-1].y)
			}
		}
		return s[len(s)-1].y
	}
	for i := range 256 {
		x := float64(i) / 255
		l.lut[i] = color.RGBA{to8(interp(r, x)), to8(interp(g, x)), to8(interp(b, x)), 255}
	}
	return l
}

// The predefined colormaps, with matplotlib's definitions.
var (
	// Jet is matplotlib's jet (dark blue, cyan, yellow, dark red); also
	// what pytorch-grad-cam overlays by default.
	Jet = segmented("jet",
		[]segment{{0, 0}, {0.35, 0}, {0.66, 1}, {0.89, 1}, {1, 0.5}},
		[]segment{{0, 0}, {0.125, 0}, {0.375, 1}, {0.64, 1}, {0.91, 0}, {1, 0}},
		[]segment{{0, 0.5}, {0.11, 1}, {0.34, 1}, {0.65, 0}, {1, 0}})
	// Gray is black to white.
	Gray = segmented("gray", []segment{{0, 0}, {1, 1}}, []segment{{0, 0}, {1, 1}}, []segment{{0, 0}, {1, 1}})
	// Viridis is matplotlib's perceptually uniform default colormap.
	Viridis = listed("viridis", &viridisData)
	// Inferno is matplotlib's inferno (black, purple, orange, pale yellow).
	Inferno = listed("inferno", &infernoData)
	// Magma is matplotlib's magma (black, purple, pink, pale yellow).
	Magma = listed("magma", &magmaData)
	// Plasma is matplotlib's plasma (blue, purple, orange, yellow).
	Plasma = listed("plasma", &plasmaData)
	// Turbo is Google's Turbo, an improved rainbow colormap.
	Turbo = listed("turbo", &turboData)
)

var colormaps = map[string]*LUT{}

func init() {
	for _, l := range []*LUT{Jet, Gray, Viridis, Inferno, Magma, Plasma, Turbo} {
		colormaps[l.name] = l
	}
}

// ColormapNames returns the names ColormapByName accepts, sorted.
func ColormapNames() []string {
	names := make([]string, 0, len(colormaps))
	for n := range colormaps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ColormapByName returns the predefined colormap called name (case
// insensitive, surrounding spaces ignored).
func ColormapByName(name string) (Colormap, error) {
	if l, ok := colormaps[strings.ToLower(strings.TrimSpace(name))]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("unknown colormap %q (valid: %s)", name, strings.Join(ColormapNames(), ", "))
}
