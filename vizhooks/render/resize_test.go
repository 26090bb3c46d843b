package render

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
)

// ResizeCase is one input of the TF.js resize oracle.
type resizeCase struct {
	H    int       `json:"h"`
	W    int       `json:"w"`
	C    int       `json:"c"`
	OutH int       `json:"outH"`
	OutW int       `json:"outW"`
	Data []float32 `json:"-"`
}

// tfjsResize runs testdata/resize_bilinear.js (TF.js
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
	if msg, err := exec.Command(node, "testdata/resize_bilinear.js", nm, meta, in, out).CombinedOutput(); err != nil {
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

func TestResizeBilinearMatchesTFJS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][5]int{
		{7, 7, 1, 224, 224}, // CAM map to MobileNet input
		{7, 7, 1, 300, 451}, // to a landscape photo
		{14, 10, 1, 37, 91}, // odd ratios
		{3, 3, 1, 3, 3},     // identity
		{5, 8, 3, 9, 4},     // mixed up/down, 3 channels
		{40, 30, 3, 17, 11}, // downscale
		{1, 1, 2, 4, 6},     // single pixel
		{2, 9, 1, 1, 1},     // to one pixel
		{6, 1, 1, 13, 1},    // a column
		{8, 8, 4, 8, 8},     // identity, 4 channels
		{7, 7, 1, 448, 300}, // big upscale
	}
	var cases []resizeCase
	for _, s := range shapes {
		d := make([]float32, s[0]*s[1]*s[2])
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 3)
		}
		cases = append(cases, resizeCase{s[0], s[1], s[2], s[3], s[4], d})
	}
	want := tfjsResize(t, cases)
	var dst []float32
	for i, k := range cases {
		dst = ResizeBilinear(k.Data, k.H, k.W, k.C, k.OutH, k.OutW, dst)
		if len(dst) != len(want[i]) {
			t.Fatalf("case %v: %d values, TF.js %d", shapes[i], len(dst), len(want[i]))
		}
		worst := 0.0
		for j := range dst {
			worst = math.Max(worst, math.Abs(float64(dst[j]-want[i][j])))
		}
		if worst > 1e-5 {
			t.Errorf("%dx%dx%d -> %dx%d: max |diff| vs TF.js = %g", k.H, k.W, k.C, k.OutH, k.OutW, worst)
		}
	}
}

func TestUpsampleHandChecked(t *testing.T) {
	// 2x2 -> 4x4, half-pixel centres: output x in {0,1,2,3} samples input
	// x' = (x+0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25,
	// 0.75, 1. Row [1 3] becomes [1, 1.5, 2.5, 3].
	m := []float32{1, 3, 5, 7}
	want := []float32{
		1, 1.5, 2.5, 3,
		2, 2.5, 3.5, 4,
		4, 4.5, 5.5, 6,
		5, 5.5, 6.5, 7,
	}
	got := Upsample(m, 2, 2, 4, 4, nil)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Upsample 2x2->4x4 = %v, want %v", got, want)
		}
	}
	// dst reuse: a large enough buffer is used in place.
	buf := make([]float32, 100)
	got = Upsample(m, 2, 2, 4, 4, buf)
	if &got[0] != &buf[0] || len(got) != 16 {
		t.Errorf("Upsample did not reuse dst (len %d)", len(got))
	}
}

func TestResizeBilinearPanicsOnBadArgs(t *testing.T) {
	for _, f := range []func(){
		func() { Upsample(make([]float32, 3), 2, 2, 4, 4, nil) },
		func() { Upsample(make([]float32, 4), 2, 2, 0, 4, nil) },
		func() { ResizeBilinear(make([]float32, 4), 2, 2, -1, 4, 4, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("expected a panic")
				}
			}()
			f()
		}()
	}
}

func TestNormalizer(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		name string
		n    Normalizer
		in   []float32
		want []float32
	}{
		{"minmax", Normalizer{}, []float32{2, 4, 6, 3}, []float32{0, 0.5, 1, 0.25}},
		{"constant", Normalizer{}, []float32{5, 5, 5}, []float32{0, 0, 0}},
		{"nonfinite", Normalizer{}, []float32{nan, 1, inf, 3, -inf}, []float32{0, 0, 0, 1, 0}},
		{"all nan", Normalizer{}, []float32{nan, nan}, []float32{0, 0}},
		{"fixed", Normalizer{Scale{Min: -1, Max: 1}}, []float32{-2, -1, 0, 0.5, 1, 9, nan}, []float32{0, 0, 0.5, 0.75, 1, 1, 0}},
		{"invalid scale is per-map", Normalizer{Scale{Min: 1, Max: 1}}, []float32{10, 20}, []float32{0, 1}},
		{"empty", Normalizer{}, nil, []float32{}},
	} {
		got := c.n.Normalize(c.in, nil)
		if len(got) != len(c.want) {
			t.Fatalf("%s: got %v want %v", c.name, got, c.want)
		}
		for i := range got {
			if math.Abs(float64(got[i]-c.want[i])) > 1e-7 {
				t.Errorf("%s: got %v want %v", c.name, got, c.want)
				break
			}
		}
	}
	// In place.
	m := []float32{0, 10}
	if got := MinMax(m, m); got[1] != 1 || m[1] != 1 {
		t.Errorf("in-place MinMax = %v", got)
	}
}

func BenchmarkUpsample7to224(b *testing.B) {
	m := make([]float32, 49)
	for i := range m {
		m[i] = float32(i)
	}
	dst := make([]float32, 224*224)
	b.ReportAllocs()
	for b.Loop() {
		dst = Upsample(m, 7, 7, 224, 224, dst)
	}
}
