package metrics

import (
	"bufio"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Region is an annotated object for the pointing game, in the pixel
// coordinates of the original image: x to the right, y down, pixel (i, j)
// covering [i, i+1) × [j, j+1).
type Region interface {
	// Distance returns how far the point (x, y) is from the region: 0
	// inside it.
	Distance(x, y float64) float64
}

// Box is an axis-aligned bounding box [X0, X1] × [Y0, Y1] in original-image
// pixel coordinates (X1, Y1 are the right and bottom edges: a box holding
// exactly pixel (3, 4) is {3, 4, 4, 5}).
type Box struct{ X0, Y0, X1, Y1 float64 }

// Distance returns the Euclidean distance from (x, y) to the box.
func (b Box) Distance(x, y float64) float64 {
	dx := math.Max(0, math.Max(b.X0-x, x-b.X1))
	dy := math.Max(0, math.Max(b.Y0-y, y-b.Y1))
	return math.Hypot(dx, dy)
}

// Mask is a binary object mask in original-image pixels: In[y·W+x] is true
// for object pixels.
type Mask struct {
	W, H int
	In   []bool
}

// MaskFromImage returns the mask of the pixels of img that are not black
// (any colour channel non-zero) and not transparent.
func MaskFromImage(img image.Image) *Mask {
	b := img.Bounds()
	m := &Mask{W: b.Dx(), H: b.Dy(), In: make([]bool, b.Dx()*b.Dy())}
	for y := range m.H {
		for x := range m.W {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			m.In[y*m.W+x] = a > 0 && (r|g|bl) > 0
		}
	}
	return m
}

// Distance returns the Euclidean distance from (x, y) to the nearest object
// pixel's square (+Inf for an empty mask).
func (m *Mask) Distance(x, y float64) float64 {
	best := math.Inf(1)
	for j := range m.H {
		for i := range m.W {
			if m.In[j*m.W+i] {
				d := Box{float64(i), float64(j), float64(i + 1), float64(j + 1)}.Distance(x, y)
				if d < best {
					best = d
					if d == 0 {
						return 0
					}
				}
			}
		}
	}
	return best
}

// Pointing is one image's pointing-game outcome.
type Pointing struct {
	// X, Y is the map's maximum in original-image pixel coordinates (the
	// centre of the maximum pixel of the map at input resolution, scaled).
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// Distance is to the nearest region; Hit reports Distance ≤ the
	// tolerance.
	Distance float64 `json:"distance"`
	Hit      bool    `json:"hit"`
}

// PointingGame plays the pointing game on one map: sal is an h×w saliency
// map (for instance Saliency's), size the original image's size that the
// regions are given in, tol the tolerance in those pixels. The maximum is
// the first maximal pixel in row-major order (NaN never is); it is a hit
// when it lies within tol of any region. With no region it returns an
// error.
func PointingGame(sal []float32, h, w int, size image.Point, regions []Region, tol float64) (Pointing, error) {
	if len(regions) == 0 {
		return Pointing{}, fmt.Errorf("pointing game: no regions")
	}
	if h <= 0 || w <= 0 || len(sal) != h*w {
		return Pointing{}, fmt.Errorf("pointing game: %d values for a %dx%d map", len(sal), h, w)
	}
	if size.X <= 0 || size.Y <= 0 {
		return Pointing{}, fmt.Errorf("pointing game: image size %v must be positive", size)
	}
	best := -1
	for p, v := range sal {
		if math.IsNaN(float64(v)) {
			continue
		}
		if best < 0 || v > sal[best] {
			best = p
		}
	}
	if best < 0 {
		return Pointing{}, fmt.Errorf("pointing game: the map is all NaN")
	}
	pt := Pointing{
		X:        (float64(best%w) + 0.5) * float64(size.X) / float64(w),
		Y:        (float64(best/w) + 0.5) * float64(size.Y) / float64(h),
		Distance: math.Inf(1),
	}
	for _, r := range regions {
		pt.Distance = math.Min(pt.Distance, r.Distance(pt.X, pt.Y))
	}
	pt.Hit = pt.Distance <= tol
	return pt, nil
}

// Boxes holds bounding boxes by image key (see For).
type Boxes map[string][]Box

// MaxBoxRows bounds the rows of a boxes file.
const MaxBoxRows = 1_000_000

// ReadBoxes reads a boxes file; see ParseBoxes for the format.
func ReadBoxes(path string) (Boxes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("boxes: %w", err)
	}
	defer f.Close()
	return ParseBoxes(f, path)
}

// ParseBoxes parses a boxes file, name being used in errors. The format is
// CSV with one box per line:
//
//	image,x0,y0,x1,y1
//
// image names the image file: its path as given on the command line, its
// base name (cat.png) or its base name without extension (cat). x0,y0 is
// the top-left corner and x1,y1 the bottom-right corner (exclusive edge)
// in pixels of the original image file, before any resizing to the model's
// input; values may be fractional. An image may have several rows (several
// objects: a hit on any counts). Blank lines and lines starting with '#'
// are skipped, and a first line "image,x0,y0,x1,y1" is a header. Errors
// name the file, the line and the field.
func ParseBoxes(r io.Reader, name string) (Boxes, error) {
	out := Boxes{}
	sc := bufio.NewScanner(r)
	line, rows := 0, 0
	fields := [...]string{"x0", "y0", "x1", "y1"}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.Split(text, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if rows == 0 && len(parts) == 5 && strings.EqualFold(parts[0], "image") && strings.EqualFold(parts[1], "x0") {
			rows++
			continue
		}
		if len(parts) != 5 {
			return nil, fmt.Errorf("boxes %s:%d: %d fields, want 5: image,x0,y0,x1,y1", name, line, len(parts))
		}
		if parts[0] == "" {
			return nil, fmt.Errorf("boxes %s:%d: empty image name", name, line)
		}
		var v [4]float64
		for i, f := range fields {
			x, err := strconv.ParseFloat(parts[i+1], 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("boxes %s:%d: field %s %q is not a finite number", name, line, f, parts[i+1])
			}
			v[i] = x
		}
		if !(v[2] > v[0]) || !(v[3] > v[1]) {
			return nil, fmt.Errorf("boxes %s:%d: box (%g,%g)-(%g,%g) is empty: want x1 > x0 and y1 > y0", name, line, v[0], v[1], v[2], v[3])
		}
		if rows++; rows > MaxBoxRows {
			return nil, fmt.Errorf("boxes %s:%d: more than %d boxes", name, line, MaxBoxRows)
		}
		out[parts[0]] = append(out[parts[0]], Box{v[0], v[1], v[2], v[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("boxes %s: line %d: %w", name, line+1, err)
	}
	return out, nil
}

// For returns the boxes of the image file at path: those keyed by the path
// itself, else by its base name, else by its base name without extension.
func (b Boxes) For(path string) []Box {
	if bs, ok := b[path]; ok {
		return bs
	}
	base := filepath.Base(path)
	if bs, ok := b[base]; ok {
		return bs
	}
	return b[strings.TrimSuffix(base, filepath.Ext(base))]
}

// Regions returns For(path) as Regions (nil when there is none).
func (b Boxes) Regions(path string) []Region {
	bs := b.For(path)
	if len(bs) == 0 {
		return nil
	}
	out := make([]Region, len(bs))
	for i, x := range bs {
		out[i] = x
	}
	return out
}
