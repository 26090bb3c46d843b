package render

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"
	"testing"
)

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

// inked counts pixels of img inside r that differ from bg.
func inked(img *image.RGBA, r image.Rectangle, bg color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) != bg {
				n++
			}
		}
	}
	return n
}

func TestGridGeometryAndContent(t *testing.T) {
	colors := []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 0, 255}, {0, 255, 255, 255}}
	var cells []image.Image
	for i, c := range colors {
		w, h := 20, 10
		if i == 1 {
			w, h = 30, 15 // the largest: sets the cell size
		}
		cells = append(cells, solid(w, h, c))
	}
	captions := []string{"a", "bb", "", "a very long caption that cannot possibly fit", "e"}
	img := Grid(cells, captions, 0, Options{})
	l := GridLayout(cells, captions, 0, Options{})
	// Auto columns ceil(sqrt(5)) = 3, 2 rows; default padding 4; the
	// 30x15 cell size; a caption bar of the 7x13 font (cells 30 px wide
	// are too small for Go Regular) plus 2.
	if l.Cols != 3 || l.Rows != 2 || l.Pad != 4 || l.CellW != 30 || l.CellH != 15 || l.CaptionH != 13+2 || l.TitleH != 0 {
		t.Fatalf("layout %+v", l)
	}
	wantSize := image.Pt(4+3*(30+4), 4+2*(15+15+4))
	if l.Size != wantSize || img.Bounds().Size() != wantSize {
		t.Fatalf("size %v / image %v, want %v", l.Size, img.Bounds().Size(), wantSize)
	}
	// Cell 4: column 1, row 1.
	if got, want := l.Cell(4), image.Rect(4+34, 4+34+15, 4+34+30, 4+34+15+15); got != want {
		t.Errorf("Cell(4) = %v, want %v", got, want)
	}
	white := color.RGBA{255, 255, 255, 255}
	for i, c := range colors {
		r := l.Cell(i)
		s := cells[i].Bounds().Size()
		at := r.Min.Add(image.Pt((30-s.X)/2, (15-s.Y)/2))
		inner := image.Rectangle{Min: at, Max: at.Add(s)}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				want := white
				if image.Pt(x, y).In(inner) {
					want = c
				}
				if got := img.RGBAAt(x, y); got != want {
					t.Fatalf("cell %d pixel (%d,%d) = %v, want %v", i, x, y, got, want)
				}
			}
		}
		ink := inked(img, l.Caption(i), white)
		if (captions[i] != "") != (ink > 0) {
			t.Errorf("caption %d %q: %d inked pixels in its bar", i, captions[i], ink)
		}
	}
	// Nothing is drawn outside the cells and caption bars: the long
	// caption is clipped to its cell.
	for y := range wantSize.Y {
		for x := range wantSize.X {
			p := image.Pt(x, y)
			in := false
			for i := range cells {
				if p.In(l.Cell(i)) || p.In(l.Caption(i)) {
					in = true
				}
			}
			if !in && img.RGBAAt(x, y) != white {
				t.Fatalf("pixel (%d,%d) outside every cell is %v", x, y, img.RGBAAt(x, y))
			}
		}
	}
}

func TestGridFontsAndTitle(t *testing.T) {
	bg := color.RGBA{20, 20, 20, 255}
	opts := Options{Background: bg, Text: color.White, Padding: -1, Title: "Grad-CAM step 100"}
	big := []image.Image{solid(224, 224, bg), solid(224, 224, bg)}
	img := Panel(big, []string{"image", "overlay"}, opts)
	l := GridLayout(big, []string{"image", "overlay"}, 2, opts)
	// 224 px cells: Go Regular at 224/12 -> 16 px, taller than the 7x13
	// bitmap font.
	if l.Pad != 0 || l.Cols != 2 || l.Rows != 1 || l.CaptionH <= 15 || l.TitleH <= 15 {
		t.Fatalf("layout %+v", l)
	}
	if img.Bounds().Size() != image.Pt(448, l.TitleH+l.CaptionH+224) {
		t.Fatalf("panel size %v", img.Bounds().Size())
	}
	for i := range 2 {
		if inked(img, l.Caption(i), bg) == 0 {
			t.Errorf("caption %d not drawn", i)
		}
		if n := inked(img, l.Cell(i), bg); n != 0 {
			t.Errorf("caption ink leaked into cell %d (%d pixels)", i, n)
		}
	}
	if inked(img, image.Rect(0, 0, 448, l.TitleH), bg) == 0 {
		t.Error("title not drawn")
	}
	// An explicit font size is honoured.
	l2 := GridLayout(big, []string{"x"}, 0, Options{FontSize: 30})
	if l2.CaptionH < 30 {
		t.Errorf("FontSize 30 gives caption bar %d px", l2.CaptionH)
	}
}

func TestGridEdgeCases(t *testing.T) {
	if img := Grid(nil, nil, 0, Options{}); img.Bounds().Empty() {
		t.Error("empty grid has an empty image")
	}
	// nil cells stay blank, cols larger than n is clamped.
	img := Grid([]image.Image{nil, solid(5, 5, color.RGBA{255, 0, 0, 255})}, nil, 10, Options{Padding: 1})
	if img.Bounds().Size() != image.Pt(1+2*6, 1+6) {
		t.Errorf("size %v", img.Bounds().Size())
	}
	if img.RGBAAt(2, 2) != (color.RGBA{255, 255, 255, 255}) || img.RGBAAt(8, 2) != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("cells: %v %v", img.RGBAAt(2, 2), img.RGBAAt(8, 2))
	}
}

func TestChannelGridPaging(t *testing.T) {
	const h, w = 3, 3
	for _, c := range []struct{ channels, pages, lastTiles, cols int }{
		{1, 1, 1, 1},
		{3, 1, 3, 2},
		{64, 1, 64, 8},
		{1280, 20, 64, 8},
	} {
		n := c.channels
		act := make([]float32, h*w*n)
		for j := range h * w {
			for ch := range n {
				act[j*n+ch] = float32(ch*9 + j)
			}
		}
		pages, err := ChannelGrid(act, h, w, n, nil, GridOptions{Colormap: customMap{}, Scale: Scale{0, float64(9 * n)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(pages) != c.pages {
			t.Fatalf("%d channels: %d pages, want %d", n, len(pages), c.pages)
		}
		// 3x3 maps enlarged x11 (to 33 >= 32 px); captions in the 7x13 font.
		tile := 33
		for p, img := range pages {
			tiles := min(64, n-64*p)
			cols := int(math.Ceil(math.Sqrt(float64(tiles))))
			rows := (tiles + cols - 1) / cols
			want := image.Pt(4+cols*(tile+4), 4+rows*(15+tile+4))
			if img.Bounds().Size() != want {
				t.Fatalf("%d channels page %d: size %v, want %v (%dx%d tiles)", n, p, img.Bounds().Size(), want, cols, rows)
			}
			if p == len(pages)-1 && (tiles != c.lastTiles || cols != c.cols) {
				t.Fatalf("%d channels: last page %d tiles %d cols", n, tiles, cols)
			}
			for k := range tiles {
				ch := 64*p + k
				col, row := k%cols, k/cols
				x0, y0 := 4+col*(tile+4), 4+row*(15+tile+4)+15
				for y := range tile {
					for x := range tile {
						v := decode24(img.RGBAAt(x0+x, y0+y)) * float64(9*n)
						if want := ch*9 + (y/11)*3 + x/11; math.Abs(v-float64(want)) > 0.01 {
							t.Fatalf("%d channels page %d tile %d pixel (%d,%d) shows value %.3f, want %d (channel %d)", n, p, k, x, y, v, want, ch)
						}
					}
				}
				if inked(img, image.Rect(x0, y0-15, x0+tile, y0), color.RGBA{255, 255, 255, 255}) == 0 {
					t.Fatalf("tile %d of page %d has no caption", k, p)
				}
			}
		}
	}
}

func TestChannelGridNormalisation(t *testing.T) {
	// Two 1x2 channels: [0 1] and [0 10].
	act := []float32{0, 0, 1, 10}
	get := func(opts GridOptions) [2][2]uint8 {
		opts.NoCaptions = true
		opts.Padding = -1
		opts.MinTile = -1
		pages, err := ChannelGrid(act, 1, 2, 2, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		img := pages[0] // 2 tiles of 2x1, side by side
		return [2][2]uint8{{img.RGBAAt(0, 0).R, img.RGBAAt(1, 0).R}, {img.RGBAAt(2, 0).R, img.RGBAAt(3, 0).R}}
	}
	if got := get(GridOptions{}); got != [2][2]uint8{{0, 255}, {0, 255}} {
		t.Errorf("per-channel: %v", got)
	}
	// Per layer: channel 0's 1 is a tenth of the range: bin floor(25.6) = 25.
	if got := get(GridOptions{PerLayer: true}); got != [2][2]uint8{{0, 25}, {0, 255}} {
		t.Errorf("per-layer: %v", got)
	}
	if got := get(GridOptions{Scale: Scale{0, 2}}); got != [2][2]uint8{{0, 128}, {0, 255}} {
		t.Errorf("fixed scale: %v", got)
	}
	// A constant layer is all zeros.
	pages, err := ChannelGrid([]float32{7, 7, 7, 7}, 2, 2, 1, nil, GridOptions{PerLayer: true, NoCaptions: true, MinTile: -1, Options: Options{Padding: -1}})
	if err != nil || pages[0].RGBAAt(1, 1).R != 0 {
		t.Errorf("constant layer: %v %v", err, pages[0].RGBAAt(1, 1))
	}
	// Selected channels, in the given order.
	pages, err = ChannelGrid(act, 1, 2, 2, []int{1, 0}, GridOptions{PerLayer: true, NoCaptions: true, MinTile: -1, Options: Options{Padding: -1}})
	if err != nil || pages[0].RGBAAt(1, 0).R != 255 || pages[0].RGBAAt(3, 0).R != 25 {
		t.Errorf("channels [1 0]: %v", err)
	}
}

func TestChannelGridErrors(t *testing.T) {
	act := make([]float32, 2*2*4)
	for _, c := range []struct {
		act        []float32
		h, w, c    int
		channels   []int
		opts       GridOptions
		wantSubstr string
	}{
		{act, 2, 2, 4, []int{4}, GridOptions{}, "channel 4 (entry 0) out of range: the map has 4 channels"},
		{act, 2, 2, 4, []int{0, -1}, GridOptions{}, "channel -1 (entry 1)"},
		{act, 2, 2, 3, nil, GridOptions{}, "16 values for a 2x2x3"},
		{act, 0, 2, 4, nil, GridOptions{}, "must be positive"},
		{act, 2, 2, 4, nil, GridOptions{PerPage: -3}, "-3 tiles per page"},
		{act, 2, 2, 4, nil, GridOptions{MinTile: 1 << 20}, "minimum tile"},
		{make([]float32, 1000*1000*1), 1000, 1000, 1, nil, GridOptions{MinTile: 1000}, ""},
	} {
		_, err := ChannelGrid(c.act, c.h, c.w, c.c, c.channels, c.opts)
		if c.wantSubstr == "" {
			if err != nil {
				t.Errorf("unexpected error %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("error %v, want it to contain %q", err, c.wantSubstr)
		}
	}
	// A page too large to allocate is refused up front.
	big := make([]float32, 64*64*300)
	_, err := ChannelGrid(big, 64, 64, 300, nil, GridOptions{MinTile: 1024, PerPage: 4096})
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("huge page: %v", err)
	}

}
