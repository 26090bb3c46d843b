package render

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Options lays out Grid and Panel images. The zero value is ready to use:
// 4 px padding, white background, black captions sized to the cells.
type Options struct {
	// Padding is the gap in pixels around and between cells: 0 means 4,
	// a negative value means none.
	Padding int
	// Background fills the padding, caption bars and the area around
	// cells smaller than the largest; nil means white.
	Background color.Color
	// Text is the caption colour; nil means black.
	Text color.Color
	// FontSize is the caption font size in pixels (Go Regular). 0 chooses
	// one from the cell width (a twelfth of it, at most 16 px); when that
	// is under 10 px the crisper 7×13 bitmap font is used instead.
	FontSize float64
	// Title, if not empty, is drawn in a bar across the top.
	Title string
}

func (o Options) pad() int {
	switch {
	case o.Padding == 0:
		return 4
	case o.Padding < 0:
		return 0
	}
	return o.Padding
}

func (o Options) background() color.Color {
	if o.Background == nil {
		return color.White
	}
	return o.Background
}

func (o Options) text() color.Color {
	if o.Text == nil {
		return color.Black
	}
	return o.Text
}

var goRegular = sync.OnceValues(func() (*opentype.Font, error) { return opentype.Parse(goregular.TTF) })

// face returns the caption face for cells cellW wide. Faces are not safe
// for concurrent use, so every Grid call makes its own.
func (o Options) face(cellW int) font.Face {
	size := o.FontSize
	if size <= 0 {
		size = math.Min(16, float64(cellW)/12)
		if size < 10 {
			return basicfont.Face7x13
		}
	}
	f, err := goRegular()
	if err != nil { // the embedded font always parses
		return basicfont.Face7x13
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return basicfont.Face7x13
	}
	return face
}

// Layout is the geometry of a grid as Grid draws it: Rows×Cols blocks of
// a caption bar CaptionH high above a CellW×CellH cell, Pad pixels apart
// and from the border, below a title bar TitleH high.
type Layout struct {
	N, Cols, Rows                  int
	CellW, CellH, CaptionH, TitleH int
	Pad                            int
	// Size is the size of the whole image.
	Size image.Point
}

// Cell returns the rectangle of cell i (its image is centred in it).
func (l Layout) Cell(i int) image.Rectangle {
	c := l.Caption(i)
	return image.Rect(c.Min.X, c.Max.Y, c.Max.X, c.Max.Y+l.CellH)
}

// Caption returns the rectangle of cell i's caption bar (empty when no
// cell has a caption).
func (l Layout) Caption(i int) image.Rectangle {
	col, row := i%l.Cols, i/l.Cols
	x := l.Pad + col*(l.CellW+l.Pad)
	y := l.TitleH + l.Pad + row*(l.CaptionH+l.CellH+l.Pad)
	return image.Rect(x, y, x+l.CellW, y+l.CaptionH)
}

// GridLayout returns the layout Grid uses for these arguments.
func GridLayout(cells []image.Image, captions []string, cols int, opts Options) Layout {
	l, _ := gridLayout(cells, captions, cols, opts)
	return l
}

func lineHeight(face font.Face) int {
	m := face.Metrics()
	return (m.Ascent + m.Descent).Ceil()
}

func gridLayout(cells []image.Image, captions []string, cols int, opts Options) (Layout, font.Face) {
	l := Layout{N: len(cells), Pad: opts.pad()}
	for _, c := range cells {
		if c != nil {
			s := c.Bounds().Size()
			l.CellW, l.CellH = max(l.CellW, s.X), max(l.CellH, s.Y)
		}
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(len(cells)))))
	}
	l.Cols = max(1, min(cols, len(cells)))
	l.Rows = (len(cells) + l.Cols - 1) / l.Cols
	face := opts.face(l.CellW)
	for i, c := range captions {
		if i < len(cells) && c != "" {
			l.CaptionH = lineHeight(face) + 2
			break
		}
	}
	if opts.Title != "" {
		l.TitleH = lineHeight(face) + 2 + l.Pad
	}
	l.Size = image.Pt(l.Pad+l.Cols*(l.CellW+l.Pad), l.TitleH+l.Pad+l.Rows*(l.CaptionH+l.CellH+l.Pad))
	if len(cells) == 0 {
		l.Size = image.Pt(max(1, 2*l.Pad), max(1, l.TitleH+2*l.Pad))
	}
	return l, face
}

// Grid draws cells in a grid of cols columns (cols ≤ 0: ceil(√n)), each
// under its caption (captions[i], if any; missing or extra captions are
// fine). Every cell is as large as the largest image, smaller images are
// centred in theirs, and a nil image leaves its cell blank. Captions are
// centred, shortened with "..." when too wide, and clipped to their cell.
// See GridLayout for the geometry.
func Grid(cells []image.Image, captions []string, cols int, opts Options) *image.RGBA {
	l, face := gridLayout(cells, captions, cols, opts)
	out := image.NewRGBA(image.Rectangle{Max: l.Size})
	draw.Draw(out, out.Bounds(), image.NewUniform(opts.background()), image.Point{}, draw.Src)
	fg := image.NewUniform(opts.text())
	if opts.Title != "" {
		drawText(out, image.Rect(l.Pad, l.Pad, l.Size.X-l.Pad, l.TitleH), opts.Title, face, fg)
	}
	for i, c := range cells {
		if i < len(captions) && captions[i] != "" {
			drawText(out, l.Caption(i), captions[i], face, fg)
		}
		if c == nil {
			continue
		}
		r := l.Cell(i)
		s := c.Bounds().Size()
		at := r.Min.Add(image.Pt((l.CellW-s.X)/2, (l.CellH-s.Y)/2))
		draw.Draw(out, image.Rectangle{Min: at, Max: at.Add(s)}, c, c.Bounds().Min, draw.Over)
	}
	return out
}

// Panel draws cells side by side in one row, each under its caption: the
// usual image | heatmap | overlay strip. It is Grid with one row.
func Panel(cells []image.Image, captions []string, opts Options) *image.RGBA {
	return Grid(cells, captions, len(cells), opts)
}

// drawText draws s centred in r, shortened with "..." to fit, clipped to r.
func drawText(dst *image.RGBA, r image.Rectangle, s string, face font.Face, fg image.Image) {
	if r.Empty() {
		return
	}
	width := fixed.I(r.Dx() - 2)
	if font.MeasureString(face, s) > width {
		for s != "" && font.MeasureString(face, s+"...") > width {
			_, n := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-n]
		}
		s += "..."
	}
	adv := font.MeasureString(face, s)
	m := face.Metrics()
	x := fixed.I(r.Min.X) + (fixed.I(r.Dx())-adv)/2
	if adv > fixed.I(r.Dx()) {
		x = fixed.I(r.Min.X)
	}
	y := fixed.I(r.Min.Y) + (fixed.I(r.Dy())-(m.Ascent+m.Descent))/2 + m.Ascent
	d := font.Drawer{Dst: dst.SubImage(r).(*image.RGBA), Src: fg, Face: face, Dot: fixed.Point26_6{X: x, Y: y}}
	d.DrawString(s)
}
