package bundle

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// equalTensors compares dtype, shape and every value bit for bit.
func equalTensors(a, b *tensor.Tensor) bool {
	if a.DType != b.DType || !tensor.SameShape(a.Shape, b.Shape) {
		return false
	}
	switch a.DType {
	case tensor.Float32:
		for i := range a.F32 {
			if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
				return false
			}
		}
		return len(a.F32) == len(b.F32)
	case tensor.Float64:
		for i := range a.F64 {
			if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
				return false
			}
		}
		return len(a.F64) == len(b.F64)
	case tensor.String:
		if len(a.Str) != len(b.Str) {
			return false
		}
		for i := range a.Str {
			if string(a.Str[i]) != string(b.Str[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.I32, b.I32) && reflect.DeepEqual(a.I64, b.I64) &&
		reflect.DeepEqual(a.B, b.B) && reflect.DeepEqual(a.U8, b.U8)
}

func TestWriteRoundTrip(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "ckpt-7")
	long := make([]byte, 300) // a length that needs a two-byte varint
	for i := range long {
		long[i] = byte(i)
	}
	in := map[string]*tensor.Tensor{
		"a/kernel/.ATTRIBUTES/VARIABLE_VALUE": tensor.FromFloat32([]float32{1, -2.5, float32(math.Inf(1)), 3e-38, 0, 7, 8, 9}, 2, 2, 2),
		"b/f64":                               tensor.FromFloat64([]float64{math.Pi, -1e300}, 2),
		"c/i32":                               tensor.FromInt32([]int32{-1, math.MaxInt32, 0}, 3),
		"d/i64":                               {DType: tensor.Int64, Shape: []int{}, I64: []int64{1200}},
		"e/bool":                              {DType: tensor.Bool, Shape: []int{3}, B: []bool{true, false, true}},
		"f/u8":                                {DType: tensor.Uint8, Shape: []int{2, 2}, U8: []uint8{0, 255, 7, 128}},
		"g/str":                               {DType: tensor.String, Shape: []int{3}, Str: [][]byte{[]byte("hello"), {}, long}},
		"h/empty":                             tensor.New(tensor.Float32, 0, 4),
		"i/nan":                               tensor.FromFloat32([]float32{float32(math.NaN())}, 1),
	}
	if err := Write(prefix, in); err != nil {
		t.Fatal(err)
	}
	// No temporary files are left behind.
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(prefix), "*"))
	want := []string{prefix + ".data-00000-of-00001", prefix + ".index"}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("files %v, want %v", files, want)
	}
	// goleveldb's table reader (strict checksums) accepts the index.
	if kvs := goleveldbEntries(t, prefix+".index"); len(kvs) != len(in)+1 || len(kvs[0].key) != 0 {
		t.Errorf("goleveldb reads %d entries (first key %q), want header + %d", len(kvs), kvs[0].key, len(in))
	}
	r, err := Open(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := len(r.Keys()); got != len(in) {
		t.Fatalf("%d keys, want %d", got, len(in))
	}
	if r.Header().GetNumShards() != 1 {
		t.Errorf("num_shards %d", r.Header().GetNumShards())
	}
	for k, x := range in {
		got, err := r.Read(k)
		if err != nil {
			t.Fatalf("Read(%q): %v", k, err)
		}
		if !equalTensors(got, x) {
			t.Errorf("%q: read %v, wrote %v", k, got, x)
		}
	}
}

// TestWriteMatchesTensorFlow rewrites the variables of real bundles
// written by TensorFlow (every shared SavedModel and the embedded example)
// and checks each entry against the original: same dtype, shape and size,
// and the same CRC32C, which TensorFlow computed. The object graph (a
// string tensor) checks the string layout.
func TestWriteMatchesTensorFlow(t *testing.T) {
	prefixes := map[string]string{
		"embedded-cifar10": filepath.Join(testenv.RepoRoot(), "examples", "cifar10", "model", "variables", "variables"),
	}
	if _, err := os.Stat(filepath.Join(testenv.SharedModelsDir(), "MANIFEST.md")); err == nil {
		for k, v := range sharedPrefixes(t) {
			prefixes[k] = v
		}
	}
	for name, src := range prefixes {
		t.Run(name, func(t *testing.T) {
			r, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			dst := filepath.Join(t.TempDir(), "copy")
			w, err := NewWriter(dst)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			strs := 0
			for _, k := range r.Keys() {
				e, _ := r.Entry(k)
				if e.Slices > 0 || e.DType == tensor.Invalid {
					continue
				}
				x, err := r.Read(k)
				if err != nil {
					t.Fatal(err)
				}
				if x.DType == tensor.String {
					strs++
				}
				if err := w.Add(k, x); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if strs == 0 {
				t.Errorf("no string entry to check the string layout against")
			}
			r2, err := Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			for _, k := range keys {
				a, _ := r.Entry(k)
				b, ok := r2.Entry(k)
				if !ok {
					t.Fatalf("%q missing from the copy", k)
				}
				if a.DType != b.DType || !tensor.SameShape(a.Shape, b.Shape) || a.Size != b.Size || a.CRC32C != b.CRC32C {
					t.Errorf("%q: TensorFlow wrote %v%v %d bytes crc %#08x, Writer %v%v %d bytes crc %#08x",
						k, a.DType, a.Shape, a.Size, a.CRC32C, b.DType, b.Shape, b.Size, b.CRC32C)
				}
				if _, err := r2.Read(k); err != nil {
					t.Errorf("read back %q: %v", k, err)
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(filepath.Join(dir, "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromFloat32([]float32{1, 2}, 2)
	wantErr(t, w.Add("", x), "empty key is reserved")
	if err := w.Add("k", x); err != nil {
		t.Fatal(err)
	}
	wantErr(t, w.Add("k", x), `key "k" added twice`)
	wantErr(t, w.Add("nil", nil), `"nil": nil tensor`)
	wantErr(t, w.Add("bad", &tensor.Tensor{DType: tensor.Float32, Shape: []int{3}, F32: []float32{1}}), `"bad"`, "1 values for shape [3]")
	wantErr(t, w.Add("inv", &tensor.Tensor{DType: tensor.Invalid, Shape: []int{}}), "cannot be stored")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, w.Add("late", x), "writer is closed")
	wantErr(t, w.Close(), "already closed")
	r, err := Open(filepath.Join(dir, "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Keys(), []string{"k"}) {
		t.Errorf("keys %v, want [k]", r.Keys())
	}
	r.Close()

	_, err = NewWriter(dir + string(filepath.Separator))
	wantErr(t, err, "names a directory")
	_, err = NewWriter(filepath.Join(dir, "no", "such", "ckpt"))
	wantErr(t, err, "write bundle", "no such file")

	// A failed Write leaves nothing behind.
	d2 := t.TempDir()
	err = Write(filepath.Join(d2, "ckpt"), map[string]*tensor.Tensor{"a": x, "b": nil})
	wantErr(t, err, `"b": nil tensor`)
	if files, _ := os.ReadDir(d2); len(files) != 0 {
		t.Errorf("failed Write left %d files", len(files))
	}
}
