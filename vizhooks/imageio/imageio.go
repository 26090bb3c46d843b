// Package imageio loads images from disk and turns them into the float32
// NHWC batches that image models take as input.
//
// Decoding: PNG, JPEG, GIF (first frame), WebP, BMP and TIFF. Every image
// is reduced to 8 bits per channel, as models are fed, with any alpha
// composited on black (PIL's convert("RGB") would instead drop alpha and
// keep the colour of transparent pixels). JPEG decoding is Go's and may
// differ from libjpeg's by a level or two.
//
// Conversion: grayscale uses ITU-R 601-2 luma exactly as PIL's
// convert("L") does (L = R·299/1000 + G·587/1000 + B·114/1000 in 16-bit
// fixed point, rounded); grayscale images given to a 3-channel model are
// replicated to R = G = B. A size change uses bilinear interpolation with
// half-pixel centres and no antialiasing, TensorFlow's tf.image.resize
// default (render.ResizeBilinear), applied after the grayscale conversion,
// on values in [0, 255]; the result is then mapped linearly from [0, 255]
// to the model's Range.
package imageio

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // GIF decoding (first frame)
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// Formats lists the image formats Load decodes.
const Formats = "PNG, JPEG, GIF (first frame), WebP, BMP, TIFF"

// MaxPixels bounds the size of an image Load decodes (and of a ToTensor
// target): 2^28 pixels, a 16384×16384 image. Larger files are rejected
// from their header, before any pixel memory is allocated.
const MaxPixels = 1 << 28

// Load decodes the image file at path. The error for a file that is not
// an image in a supported format names the file and lists the formats.
func Load(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load image: %w", err)
	}
	defer f.Close()
	img, err := decode(f)
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", path, err)
	}
	return img, nil
}

func decode(r io.ReadSeeker) (image.Image, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("not an image in a supported format (%s)", Formats)
		}
		return nil, fmt.Errorf("cannot decode (supported formats: %s): %w", Formats, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxPixels/max(cfg.Height, 1) {
		return nil, fmt.Errorf("%s image of %dx%d pixels: empty or larger than %d pixels", format, cfg.Width, cfg.Height, MaxPixels)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("cannot decode %s data: %w", format, err)
	}
	return img, nil
}

// Range is the value range a model expects its input pixels in: 0 maps to
// Lo and 255 to Hi.
type Range struct{ Lo, Hi float64 }

// The common input ranges.
var (
	Range01      = Range{0, 1}   // Keras rescale=1/255
	Range0255    = Range{0, 255} // raw pixels (e.g. EfficientNet, ResNet50 before its own preprocessing)
	RangeMinus11 = Range{-1, 1}  // MobileNet, Inception: x/127.5 − 1
)

const rangeForms = `"0,1", "0,255" or "-1,1" (any "lo,hi" with finite lo < hi)`

// ParseRange parses a range flag value of the form "lo,hi", such as "0,1",
// "0,255" or "-1,1".
func ParseRange(s string) (Range, error) {
	lo, hi, ok := strings.Cut(s, ",")
	if !ok {
		return Range{}, fmt.Errorf("input range %q: want %s", s, rangeForms)
	}
	l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
	r := Range{l, h}
	if err1 != nil || err2 != nil || !r.valid() {
		return Range{}, fmt.Errorf("input range %q: want %s", s, rangeForms)
	}
	return r, nil
}

func (r Range) valid() bool {
	return r.Hi > r.Lo && !math.IsInf(r.Lo, 0) && !math.IsInf(r.Hi, 0)
}

// String formats r as ParseRange reads it.
func (r Range) String() string {
	return strconv.FormatFloat(r.Lo, 'g', -1, 64) + "," + strconv.FormatFloat(r.Hi, 'g', -1, 64)
}

// Set parses s into r, making *Range a flag.Value.
func (r *Range) Set(s string) error {
	v, err := ParseRange(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MaxSide bounds the height and width ToTensor resizes to.
const MaxSide = 16384

func checkArgs(n, h, w, channels int, r Range) error {
	if h <= 0 || w <= 0 || h > MaxSide || w > MaxSide {
		return fmt.Errorf("input size %dx%d: want 1..%d on each side", h, w, MaxSide)
	}
	if channels != 1 && channels != 3 {
		return fmt.Errorf("%d input channels: images convert to 1 (grayscale) or 3 (RGB) channels", channels)
	}
	if !r.valid() {
		return fmt.Errorf("input range %v: want finite lo < hi", r)
	}
	if err := tensor.CheckShape([]int{n, h, w, channels}); err != nil {
		return fmt.Errorf("input batch: %w", err)
	}
	return nil
}

// ToTensor converts imgs into an N×h×w×channels float32 batch (NHWC) with
// values in r; see the package documentation for the conversion. channels
// must be 1 or 3. An image of another size is resized to h×w.
func ToTensor(imgs []image.Image, h, w, channels int, r Range) (*tensor.Tensor, error) {
	if len(imgs) == 0 {
		return nil, errors.New("to tensor: no images")
	}
	if err := checkArgs(len(imgs), h, w, channels, r); err != nil {
		return nil, fmt.Errorf("to tensor: %w", err)
	}
	t := tensor.New(tensor.Float32, len(imgs), h, w, channels)
	var buf, rs []float32
	per := h * w * channels
	for i, img := range imgs {
		if img == nil {
			return nil, fmt.Errorf("to tensor: image %d is nil", i)
		}
		buf, rs = convert(img, h, w, channels, r, buf, rs, t.F32[i*per:(i+1)*per])
	}
	return t, nil
}

// convert writes img into dst (h·w·channels values); buf and rs are
// scratch buffers, returned for reuse.
func convert(img image.Image, h, w, channels int, r Range, buf, rs, dst []float32) ([]float32, []float32) {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	rgba, ok := img.(*image.RGBA)
	if !ok {
		// Composite on black into 8-bit premultiplied RGBA.
		rgba = image.NewRGBA(image.Rect(0, 0, sw, sh))
		draw.Draw(rgba, rgba.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Over)
	}
	// *image.RGBA is premultiplied: its colour values are already
	// composited on black.
	n := sw * sh * channels
	if cap(buf) >= n {
		buf = buf[:n]
	} else {
		buf = make([]float32, n)
	}
	for y := range sh {
		row := rgba.Pix[y*rgba.Stride:] // Pix starts at Rect.Min
		for x := range sw {
			p := row[4*x : 4*x+3 : 4*x+3]
			if channels == 1 {
				buf[y*sw+x] = float32(luma(p[0], p[1], p[2]))
			} else {
				o := (y*sw + x) * 3
				buf[o], buf[o+1], buf[o+2] = float32(p[0]), float32(p[1]), float32(p[2])
			}
		}
	}
	src := buf
	if sw != w || sh != h {
		rs = render.ResizeBilinear(buf, sh, sw, channels, h, w, rs)
		src = rs
	}
	scale := float32((r.Hi - r.Lo) / 255)
	lo := float32(r.Lo)
	for i, v := range src {
		dst[i] = v*scale + lo
	}
	return buf, rs
}

// luma is PIL's ImagingConvert RGB -> L: ITU-R 601-2 weights in 16-bit
// fixed point, rounded.
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// Batch is the result of LoadBatch.
type Batch struct {
	// Tensor holds the images that loaded, N×h×w×c NHWC float32, in the
	// order of their paths; nil when none loaded.
	Tensor *tensor.Tensor
	// Paths[i] and Originals[i] are the file and decoded image (at its
	// own size, for overlays) of row i of Tensor.
	Paths     []string
	Originals []image.Image
	// Errs holds one error per path that failed to load, each naming its
	// file; the batch goes on without those images.
	Errs []error
}

// LoadBatch loads the images at paths and converts those that decode into
// one batch (see ToTensor), so one bad file does not sink the batch: it is
// reported in Batch.Errs and left out. The error is non-nil only when the
// arguments are invalid (no paths, bad size, channels or range) or no image
// loaded at all; in the latter case it joins the per-file errors.
func LoadBatch(paths []string, h, w, channels int, r Range) (*Batch, error) {
	if len(paths) == 0 {
		return nil, errors.New("load batch: no image paths")
	}
	if err := checkArgs(len(paths), h, w, channels, r); err != nil {
		return nil, fmt.Errorf("load batch: %w", err)
	}
	b := &Batch{}
	for _, p := range paths {
		img, err := Load(p)
		if err != nil {
			b.Errs = append(b.Errs, err)
			continue
		}
		b.Paths = append(b.Paths, p)
		b.Originals = append(b.Originals, img)
	}
	if len(b.Originals) == 0 {
		return b, fmt.Errorf("load batch: none of %d images loaded: %w", len(paths), errors.Join(b.Errs...))
	}
	t, err := ToTensor(b.Originals, h, w, channels, r)
	if err != nil {
		return b, fmt.Errorf("load batch: %w", err)
	}
	b.Tensor = t
	return b, nil
}
