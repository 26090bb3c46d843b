package imageio

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/tbviz/tbviz/internal/testenv"
)

const skimageData = "/usr/lib/python3/dist-packages/skimage/data"

// photo returns the path of one of Debian python3-skimage's sample
// images, skipping (failing under CI, where make setup installs it) when
// it is absent.
func photo(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(skimageData, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" && os.Getenv("TBVIZ_ALLOW_SKIP") == "" {
			t.Fatalf("%s is missing; CI must have python3-skimage (make setup)", p)
		}
		t.Skipf("%s is missing: apt-get install python3-skimage (make setup)", p)
	}
	return p
}

type resizeCase struct {
	H    int       `json:"h"`
	W    int       `json:"w"`
	C    int       `json:"c"`
	OutH int       `json:"outH"`
	OutW int       `json:"outW"`
	Data []float32 `json:"-"`
}

// tfjsResize runs ../render/testdata/resize_bilinear.js (TF.js
// tf.image.resizeBilinear with half-pixel centres) on cases.
func tfjsResize(t *testing.T, cases []resizeCase) [][]float32 {
	t.Helper()
	nm := testenv.NPMDir(t)
	node := testenv.Node(t)
	dir := t.TempDir()
	meta, in, out := filepath.Join(dir, "cases.json"), filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.bin")
	b, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, k := range cases {
		if len(k.Data) != k.H*k.W*k.C {
			t.Fatalf("case %dx%dx%d has %d values", k.H, k.W, k.C, len(k.Data))
		}
		for _, v := range k.Data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	}
	if err := os.WriteFile(meta, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(node, "../render/testdata/resize_bilinear.js", nm, meta, in, out).CombinedOutput(); err != nil {
		t.Fatalf("node resize oracle: %v\n%s", err, msg)
	}
	if raw, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	res := make([][]float32, len(cases))
	for i, k := range cases {
		n := k.OutH * k.OutW * k.C
		if len(raw) < 4*n {
			t.Fatalf("oracle output too short at case %d", i)
		}
		res[i] = make([]float32, n)
		for j := range res[i] {
			res[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		raw = raw[4*n:]
	}
	if len(raw) != 0 {
		t.Fatalf("oracle output has %d extra bytes", len(raw))
	}
	return res
}

// pixels8 reads img's 8-bit RGB values through the generic image.Image
// interface, independently of ToTensor's conversion path.
func pixels8(img image.Image) []float32 {
	b := img.Bounds()
	out := make([]float32, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			out = append(out, float32(r>>8), float32(g>>8), float32(bb>>8))
		}
	}
	return out
}

func TestResizeMatchesTFJSOnPhotos(t *testing.T) {
	chelsea, err := Load(photo(t, "chelsea.png")) // 451x300 RGB cat
	if err != nil {
		t.Fatal(err)
	}
	camera, err := Load(photo(t, "camera.png")) // 512x512 grayscale
	if err != nil {
		t.Fatal(err)
	}
	camRGB := pixels8(camera)
	camGray := make([]float32, len(camRGB)/3)
	for i := range camGray {
		camGray[i] = camRGB[3*i]
	}
	type job struct {
		img  image.Image
		c    int
		h, w int
	}
	jobs := []job{
		{chelsea, 3, 224, 224}, // downscale, aspect change
		{chelsea, 3, 97, 301},
		{chelsea, 3, 331, 460}, // slight upscale
		{camera, 1, 224, 224},
		{camera, 3, 150, 700}, // grey replicated to RGB
	}
	var cases []resizeCase
	for _, j := range jobs {
		b := j.img.Bounds()
		data := pixels8(j.img)
		if j.c == 1 {
			data = camGray
		}
		cases = append(cases, resizeCase{b.Dy(), b.Dx(), j.c, j.h, j.w, data})
	}
	want := tfjsResize(t, cases)
	for i, j := range jobs {
		got, err := ToTensor([]image.Image{j.img}, j.h, j.w, j.c, Range0255)
		if err != nil {
			t.Fatal(err)
		}
		if s := got.Shape; len(s) != 4 || s[0] != 1 || s[1] != j.h || s[2] != j.w || s[3] != j.c {
			t.Fatalf("shape %v", s)
		}
		worst := 0.0
		for k, v := range got.F32 {
			worst = math.Max(worst, math.Abs(float64(v-want[i][k])))
		}
		if worst > 1e-3 {
			t.Errorf("job %d (%v -> %dx%dx%d): max |diff| vs TF.js = %g on the 0..255 scale", i, j.img.Bounds().Size(), j.h, j.w, j.c, worst)
		}
	}
}

func TestGrayscaleMatchesPIL(t *testing.T) {
	// Image.open(f).convert("L") with Pillow 9.4 (Debian python3-pil):
	// sum of all values and three pixels [row, col].
	for _, c := range []struct {
		file          string
		sum           int64
		p00, p100x200 int
		pLast         int
	}{
		{"chelsea.png", 16166008, 125, 47, 144},
		{"astronaut.png", 30252539, 150, 60, 0},
	} {
		img, err := Load(photo(t, c.file))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		x, err := ToTensor([]image.Image{img}, b.Dy(), b.Dx(), 1, Range0255)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, v := range x.F32 {
			if v != float32(math.Round(float64(v))) {
				t.Fatalf("%s: non-integer grey level %v at native size", c.file, v)
			}
			sum += int64(v)
		}
		w := b.Dx()
		got := [4]int64{sum, int64(x.F32[0]), int64(x.F32[100*w+200]), int64(x.F32[len(x.F32)-1])}
		if want := [4]int64{c.sum, int64(c.p00), int64(c.p100x200), int64(c.pLast)}; got != want {
			t.Errorf("%s grey (sum, [0,0], [100,200], last) = %v, PIL %v", c.file, got, want)
		}
	}
}

func TestLumaByHand(t *testing.T) {
	for _, c := range []struct {
		r, g, b uint8
		want    float32
	}{
		{10, 200, 30, 124},   // 2.99 + 117.4 + 3.42 = 123.81
		{255, 255, 255, 255}, // weights sum to 1
		{255, 0, 0, 76},      // 76.245
		{0, 255, 0, 150},     // 149.685
		{0, 0, 255, 29},      // 29.07
		{1, 1, 1, 1},
	} {
		img := image.NewRGBA(image.Rect(0, 0, 1, 1))
		img.SetRGBA(0, 0, color.RGBA{c.r, c.g, c.b, 255})
		x, err := ToTensor([]image.Image{img}, 1, 1, 1, Range0255)
		if err != nil {
			t.Fatal(err)
		}
		if x.F32[0] != c.want {
			t.Errorf("luma(%d,%d,%d) = %v, want %v", c.r, c.g, c.b, x.F32[0], c.want)
		}
	}
}

func TestRangesAndAlpha(t *testing.T) {
	img := image.NewNRGBA(image.Rect(5, 5, 8, 6)) // non-zero origin
	img.SetNRGBA(5, 5, color.NRGBA{0, 0, 0, 255})
	img.SetNRGBA(6, 5, color.NRGBA{255, 255, 255, 255})
	img.SetNRGBA(7, 5, color.NRGBA{200, 100, 50, 128}) // half transparent
	for _, c := range []struct {
		r          Range
		black, wht float32
	}{
		{Range01, 0, 1}, {Range0255, 0, 255}, {RangeMinus11, -1, 1}, {Range{-123.68, 131.32}, -123.68, 131.32},
	} {
		x, err := ToTensor([]image.Image{img}, 1, 3, 3, c.r)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if math.Abs(float64(x.F32[k]-c.black)) > 1e-5 || math.Abs(float64(x.F32[3+k]-c.wht)) > 1e-4 {
				t.Errorf("range %v: black %v white %v", c.r, x.F32[:3], x.F32[3:6])
			}
		}
	}
	// Alpha composited on black: 200·128/255 = 100.4, 50.2, 25.1.
	x, _ := ToTensor([]image.Image{img}, 1, 3, 3, Range0255)
	if got := x.F32[6:9]; math.Abs(float64(got[0]-100)) > 1 || math.Abs(float64(got[1]-50)) > 1 || math.Abs(float64(got[2]-25)) > 1 {
		t.Errorf("translucent pixel -> %v, want about [100 50 25]", got)
	}
	// A grey image to 3 channels is replicated.
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix[0], g.Pix[1] = 7, 250
	x, _ = ToTensor([]image.Image{g}, 1, 2, 3, Range0255)
	if want := []float32{7, 7, 7, 250, 250, 250}; !equal(x.F32, want) {
		t.Errorf("grey to RGB = %v, want %v", x.F32, want)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseRange(t *testing.T) {
	for s, want := range map[string]Range{"0,1": Range01, "0,255": Range0255, "-1,1": RangeMinus11, " -1 , 1 ": RangeMinus11, "-0.5,0.5": {-0.5, 0.5}} {
		got, err := ParseRange(s)
		if err != nil || got != want {
			t.Errorf("ParseRange(%q) = %v, %v", s, got, err)
		}
		if back, _ := ParseRange(got.String()); back != got {
			t.Errorf("%v does not round-trip through String", got)
		}
	}
	for _, s := range []string{"", "0", "1,0", "0,0", "a,b", "0,inf", "0,1,2", "nan,1"} {
		_, err := ParseRange(s)
		if err == nil || !strings.Contains(err.Error(), `"`+s+`"`) || !strings.Contains(err.Error(), `"-1,1"`) {
			t.Errorf("ParseRange(%q) error %v should quote the value and list the forms", s, err)
		}
	}
	var r Range
	if err := r.Set("0,255"); err != nil || r != Range0255 {
		t.Errorf("Set: %v %v", r, err)
	}
}

func writeFile(t *testing.T, dir, name string, encode func(f *os.File) error) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := encode(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	src := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for i := range src.Pix {
		src.Pix[i] = 255
	}
	for x := range 8 {
		for y := range 8 {
			src.SetRGBA(x, y, color.RGBA{200, 30, 40, 255}) // left half red
		}
	}
	redFrame := image.NewPaletted(image.Rect(0, 0, 16, 8), palette.Plan9)
	blueFrame := image.NewPaletted(image.Rect(0, 0, 16, 8), palette.Plan9)
	for i := range redFrame.Pix {
		redFrame.Pix[i] = uint8(redFrame.Palette.Index(color.RGBA{255, 0, 0, 255}))
		blueFrame.Pix[i] = uint8(blueFrame.Palette.Index(color.RGBA{0, 0, 255, 255}))
	}
	files := map[string]string{
		"png":  writeFile(t, dir, "a.png", func(f *os.File) error { return png.Encode(f, src) }),
		"jpeg": writeFile(t, dir, "a.jpg", func(f *os.File) error { return jpeg.Encode(f, src, &jpeg.Options{Quality: 95}) }),
		"bmp":  writeFile(t, dir, "a.bmp", func(f *os.File) error { return bmp.Encode(f, src) }),
		"tiff": writeFile(t, dir, "a.tif", func(f *os.File) error { return tiff.Encode(f, src, nil) }),
		"gif": writeFile(t, dir, "a.gif", func(f *os.File) error {
			return gif.EncodeAll(f, &gif.GIF{Image: []*image.Paletted{redFrame, blueFrame}, Delay: []int{10, 10}})
		}),
	}
	for format, p := range files {
		img, err := Load(p)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if img.Bounds().Size() != image.Pt(16, 8) {
			t.Errorf("%s: size %v", format, img.Bounds().Size())
		}
		r, g, b, _ := img.At(2, 4).RGBA()
		want := [3]int{200, 30, 40}
		if format == "gif" {
			want = [3]int{255, 0, 0} // the first frame
		}
		tol := 0
		if format == "jpeg" {
			tol = 12
		}
		for k, v := range [3]uint32{r, g, b} {
			if math.Abs(float64(int(v>>8)-want[k])) > float64(tol) {
				t.Errorf("%s: pixel (2,4) = %d,%d,%d, want %v", format, r>>8, g>>8, b>>8, want)
				break
			}
		}
	}
	// WebP (lossy, from golang.org/x/image's test data), JPEG photo, GIF.
	for p, size := range map[string]image.Point{
		"testdata/blue-purple-pink.lossy.webp": {150, 100},
	} {
		img, err := Load(p)
		if err != nil || img.Bounds().Size() != size {
			t.Errorf("Load(%s): %v, %v", p, img, err)
		}
	}
	img, err := Load(photo(t, "rocket.jpg"))
	if err != nil || img.Bounds().Size() != image.Pt(640, 427) {
		t.Errorf("rocket.jpg: %v", err)
	}
}

// pngHeader returns the start of a PNG (signature and IHDR) claiming the
// given size.
func pngHeader(w, h uint32) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	binary.Write(&buf, binary.BigEndian, uint32(13))
	buf.Write(ihdr)
	binary.Write(&buf, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return buf.Bytes()
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "notes.png")
	os.WriteFile(garbage, []byte("this is not an image at all"), 0o644)
	huge := filepath.Join(dir, "huge.png")
	os.WriteFile(huge, pngHeader(100000, 100000), 0o644)
	empty := filepath.Join(dir, "empty.jpg")
	os.WriteFile(empty, nil, 0o644)
	for _, c := range []struct {
		path string
		want []string
	}{
		{garbage, []string{garbage, "supported format", "WebP"}},
		{empty, []string{empty, "supported format"}},
		{filepath.Join(dir, "missing.png"), []string{"missing.png", "no such file"}},
		{huge, []string{huge, "100000x100000", "larger than"}},
		{photo(t, "truncated.jpg"), []string{"truncated.jpg", "jpeg"}},
	} {
		_, err := Load(c.path)
		if err == nil {
			t.Errorf("Load(%s) succeeded", c.path)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%s) error %q does not mention %q", c.path, err, w)
			}
		}
	}
}

func TestToTensorErrors(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for _, c := range []struct {
		imgs    []image.Image
		h, w, c int
		r       Range
		want    string
	}{
		{[]image.Image{img}, 2, 2, 4, Range01, "4 input channels"},
		{[]image.Image{img}, 2, 2, 2, Range01, "1 (grayscale) or 3 (RGB)"},
		{[]image.Image{img}, 0, 2, 3, Range01, "input size 0x2"},
		{[]image.Image{img}, 2, 1 << 20, 3, Range01, "input size"},
		{[]image.Image{img, nil}, 2, 2, 3, Range01, "image 1 is nil"},
		{nil, 2, 2, 3, Range01, "no images"},
		{[]image.Image{img}, 2, 2, 3, Range{1, 1}, "input range"},
	} {
		_, err := ToTensor(c.imgs, c.h, c.w, c.c, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ToTensor(%d imgs, %d, %d, %d, %v) error %v, want %q", len(c.imgs), c.h, c.w, c.c, c.r, err, c.want)
		}
	}
}

func TestLoadBatch(t *testing.T) {
	dir := t.TempDir()
	a := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range a.Pix {
		a.Pix[i] = 255
	}
	good := writeFile(t, dir, "white.png", func(f *os.File) error { return png.Encode(f, a) })
	bad := filepath.Join(dir, "bad.gif")
	os.WriteFile(bad, []byte("GIF89a but not really"), 0o644)
	missing := filepath.Join(dir, "missing.jpg")
	cat := photo(t, "chelsea.png")

	b, err := LoadBatch([]string{bad, good, missing, cat}, 8, 8, 3, RangeMinus11)
	if err != nil {
		t.Fatal(err)
	}
	if s := b.Tensor.Shape; len(s) != 4 || s[0] != 2 || s[1] != 8 || s[2] != 8 || s[3] != 3 {
		t.Fatalf("batch shape %v, want [2 8 8 3]", s)
	}
	if len(b.Paths) != 2 || b.Paths[0] != good || b.Paths[1] != cat || len(b.Originals) != 2 || b.Originals[1].Bounds().Dx() != 451 {
		t.Errorf("paths %v, originals %d", b.Paths, len(b.Originals))
	}
	if len(b.Errs) != 2 || !strings.Contains(b.Errs[0].Error(), bad) || !strings.Contains(b.Errs[1].Error(), "missing.jpg") {
		t.Errorf("errs %v", b.Errs)
	}
	for _, v := range b.Tensor.F32[:8*8*3] {
		if v != 1 {
			t.Fatalf("white image row holds %v, want 1", v)
		}
	}
	// Nothing loads: an error joining the per-file errors.
	_, err = LoadBatch([]string{bad, missing}, 8, 8, 3, Range01)
	if err == nil || !strings.Contains(err.Error(), "none of 2") || !strings.Contains(err.Error(), bad) {
		t.Errorf("all-bad batch error %v", err)
	}
	if _, err := LoadBatch([]string{good}, 8, 8, 4, Range01); err == nil || !strings.Contains(err.Error(), "4 input channels") {
		t.Errorf("bad channels: %v", err)
	}
	if _, err := LoadBatch(nil, 8, 8, 3, Range01); err == nil {
		t.Error("no paths: no error")
	}
}
