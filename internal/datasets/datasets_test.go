package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
)

func TestFashionMNISTTestSplit(t *testing.T) {
	dir := testenv.FashionMNIST(t)
	images, labels, err := FashionMNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 10000 || len(images) != 10000*28*28 {
		t.Fatalf("got %d labels and %d pixels, want 10000 and %d", len(labels), len(images), 10000*28*28)
	}
	// Facts read independently with Python's gzip module: the first ten
	// labels and the pixel sums of the first and last images.
	want := []uint8{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}
	for i, w := range want {
		if labels[i] != w {
			t.Errorf("label %d = %d, want %d", i, labels[i], w)
		}
	}
	sum := func(px []uint8) (s int) {
		for _, v := range px {
			s += int(v)
		}
		return s
	}
	if s := sum(images[:784]); s != 33456 {
		t.Errorf("pixel sum of image 0 = %d, want 33456", s)
	}
	if s := sum(images[784*9999:]); s != 24390 {
		t.Errorf("pixel sum of image 9999 = %d, want 24390", s)
	}
	// The test split is balanced: 1000 items per class.
	var hist [10]int
	for _, l := range labels {
		hist[l]++
	}
	for c, n := range hist {
		if n != 1000 {
			t.Errorf("class %d (%s) has %d items, want 1000", c, FashionMNISTClasses[c], n)
		}
	}
}

func TestFashionMNISTTrainSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses 47 MB")
	}
	images, labels, err := FashionMNIST(testenv.FashionMNIST(t), "train")
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 60000 || len(images) != 60000*784 {
		t.Fatalf("got %d labels and %d pixels, want 60000 and %d", len(labels), len(images), 60000*784)
	}
}

func idxImages(magic uint32, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, dims)
	b.Write(payload)
	return b.Bytes()
}

func TestReadIDXErrors(t *testing.T) {
	cases := []struct {
		name, want string
		data       []byte
		labels     bool
	}{
		{"bad magic", "magic number is 0x00000801, want 0x00000803", idxImages(0x801, []uint32{1, 2, 2}, make([]byte, 4)), false},
		{"short header", "16-byte header", []byte{0, 0, 8, 3, 0}, false},
		{"truncated", "truncated: 3 bytes of data, the header declares 8", idxImages(0x803, []uint32{2, 2, 2}, make([]byte, 3)), false},
		{"trailing", "trailing data", idxImages(0x803, []uint32{1, 2, 2}, make([]byte, 5)), false},
		{"absurd", "outside the supported range", idxImages(0x803, []uint32{4_000_000_000, 28, 28}, nil), false},
		{"zero side", "outside the supported range", idxImages(0x803, []uint32{1, 0, 28}, nil), false},
		{"labels magic", "magic number is 0x00000803, want 0x00000801", idxImages(0x803, []uint32{1}, []byte{1}), true},
		{"labels absurd", "more than the supported", idxImages(0x801, []uint32{4_000_000_000}, nil), true},
	}
	for _, c := range cases {
		var err error
		if c.labels {
			_, err = ReadIDXLabels(bytes.NewReader(c.data))
		} else {
			_, _, _, _, err = ReadIDXImages(bytes.NewReader(c.data))
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestFashionMNISTCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, gz bool) {
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			data, name = b.Bytes(), name+".gz"
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Two valid 28x28 images (one gzipped file, one plain) and labels.
	write("t10k-images-idx3-ubyte", idxImages(0x803, []uint32{2, 28, 28}, make([]byte, 2*784)), true)
	write("t10k-labels-idx1-ubyte", idxImages(0x801, []uint32{2}, []byte{3, 7}), false)
	im, lb, err := FashionMNIST(dir, "t10k")
	if err != nil || len(im) != 2*784 || len(lb) != 2 || lb[1] != 7 {
		t.Fatalf("valid small files: %d pixels, labels %v, err %v", len(im), lb, err)
	}
	// Label out of range.
	write("t10k-labels-idx1-ubyte", idxImages(0x801, []uint32{2}, []byte{3, 12}), false)
	if _, _, err := FashionMNIST(dir, "test"); err == nil || !strings.Contains(err.Error(), "label 1 is 12") {
		t.Errorf("bad label: %v", err)
	}
	// Count mismatch.
	write("t10k-labels-idx1-ubyte", idxImages(0x801, []uint32{3}, []byte{3, 1, 2}), false)
	if _, _, err := FashionMNIST(dir, "test"); err == nil || !strings.Contains(err.Error(), "has 3 labels but") {
		t.Errorf("count mismatch: %v", err)
	}
	// Corrupt header in the gzipped images file names the file.
	write("t10k-images-idx3-ubyte", idxImages(0x12345678, []uint32{2, 28, 28}, nil), true)
	_, _, err = FashionMNIST(dir, "test")
	if err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte.gz") || !strings.Contains(err.Error(), "0x12345678") {
		t.Errorf("corrupt header: %v", err)
	}
	if _, _, err := FashionMNIST(dir, "validation"); err == nil || !strings.Contains(err.Error(), "unknown split") {
		t.Errorf("bad split: %v", err)
	}
	if _, _, err := FashionMNIST(t.TempDir(), "train"); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte") {
		t.Errorf("missing files: %v", err)
	}
}

func TestMNISTDigits(t *testing.T) {
	images, labels, err := MNISTDigits(testenv.NPMDir(t))
	if err != nil {
		t.Fatal(err)
	}
	// Sample counts per digit, counted independently with Python's json.
	wantCounts := []int{1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978}
	var counts [10]int
	for i, l := range labels {
		counts[l]++
		if len(images[i]) != 784 {
			t.Fatalf("image %d has %d pixels", i, len(images[i]))
		}
	}
	for d, w := range wantCounts {
		if counts[d] != w {
			t.Errorf("digit %d: %d samples, want %d", d, counts[d], w)
		}
	}
	// Pixel sum of the first sample of digit 0 (Python: 121.921).
	var s float64
	for _, v := range images[0] {
		s += float64(v)
	}
	if s < 121.92-1e-3 || s > 121.922+1e-3 {
		t.Errorf("first digit-0 sample sums to %g, want 121.921", s)
	}
}

func TestReadMNISTDigitFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		`{"data": [0, 0.5]}`: "has 2 values, want a positive multiple of 784",
		`{"other": []}`:      `no "data" array`,
		`{"data": [1,2,`:     "unexpected end",
		`{"data": "x"}`:      "cannot unmarshal",
		`{"data": []}`:       "has 0 values",
		`{"data": [` + strings.Repeat("0,", 783) + `1.5]}`: "value 783 (digit sample 0, pixel 783) is 1.5",
	}
	i := 0
	for body, want := range cases {
		p := filepath.Join(dir, "d.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadMNISTDigitFile(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("case %d: error %v, want %q", i, err, want)
		}
		i++
	}
}
