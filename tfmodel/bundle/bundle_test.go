package bundle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"
	"google.golang.org/protobuf/proto"

	protobufpb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// sharedPrefixes returns the variables/variables prefix of every shared
// SavedModel.
func sharedPrefixes(t *testing.T) map[string]string { return sharedPrefixesTB(t) }

func sharedPrefixesTB(t testing.TB) map[string]string {
	t.Helper()
	dir := testenv.SharedModels(t)
	idx, err := filepath.Glob(filepath.Join(dir, "*", "variables", "variables.index"))
	if err != nil || len(idx) == 0 {
		t.Fatalf("no variables.index under %s (%v)", dir, err)
	}
	out := map[string]string{}
	for _, p := range idx {
		name := filepath.Base(filepath.Dir(filepath.Dir(p)))
		out[name] = strings.TrimSuffix(p, ".index")
	}
	return out
}

// goleveldbEntries reads an index with goleveldb's table reader (block
// checksums verified): the independent oracle for readTable.
func goleveldbEntries(t *testing.T, path string) []kv {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := table.NewReader(bytes.NewReader(data), int64(len(data)), storage.FileDesc{}, nil, nil, &opt.Options{Strict: opt.StrictAll})
	if err != nil {
		t.Fatal(err)
	}
	it := r.NewIterator(nil, nil)
	defer it.Release()
	var out []kv
	for it.Next() {
		out = append(out, kv{append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...)})
	}
	if err := it.Error(); err != nil {
		t.Fatalf("goleveldb: %s: %v", path, err)
	}
	return out
}

func TestSharedModelsReadAll(t *testing.T) {
	for name, prefix := range sharedPrefixes(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(prefix + ".index")
			if err != nil {
				t.Fatal(err)
			}
			got, err := readTable(data)
			if err != nil {
				t.Fatal(err)
			}
			want := goleveldbEntries(t, prefix+".index")
			if len(got) != len(want) {
				t.Fatalf("readTable: %d entries, goleveldb %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i].key, want[i].key) || !bytes.Equal(got[i].value, want[i].value) {
					t.Fatalf("entry %d: readTable %q, goleveldb %q", i, got[i].key, want[i].key)
				}
			}

			r, err := Open(prefix)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if len(r.Keys()) != len(want)-1 {
				t.Errorf("%d keys, index has %d entries besides the header", len(r.Keys()), len(want)-1)
			}
			shards, _ := filepath.Glob(prefix + ".data-*")
			if n := int(r.Header().GetNumShards()); n != len(shards) {
				t.Errorf("header says %d shards, %d files", n, len(shards))
			}
			for _, k := range r.Keys() {
				e, _ := r.Entry(k)
				x, err := r.Read(k)
				if err != nil {
					t.Fatalf("Read(%q): %v", k, err)
				}
				if !tensor.SameShape(x.Shape, e.Shape) || x.DType != e.DType {
					t.Errorf("%q: read %v%v, entry %v%v", k, x.DType, x.Shape, e.DType, e.Shape)
				}
				if x.DType == tensor.Float32 {
					for _, v := range x.F32 {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("%q: non-finite value %v", k, v)
						}
					}
				}
			}
			g, err := r.ObjectGraph()
			if err != nil {
				t.Fatal(err)
			}
			// Every VARIABLE_VALUE key of the bundle is the checkpoint key of
			// some attribute in the object graph.
			attrKeys := map[string]bool{}
			for _, n := range g.GetNodes() {
				for _, a := range n.GetAttributes() {
					attrKeys[a.GetCheckpointKey()] = true
				}
			}
			for _, k := range r.Keys() {
				if strings.HasSuffix(k, "/.ATTRIBUTES/VARIABLE_VALUE") && !attrKeys[k] {
					t.Errorf("key %q is not in the object graph", k)
				}
			}
		})
	}
}

func TestKnownEntries(t *testing.T) {
	ps := sharedPrefixes(t)
	r, err := Open(ps["cifar10-logits-tf28"])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const k = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
	e, ok := r.Entry(k)
	if !ok || e.DType != tensor.Float32 || !tensor.SameShape(e.Shape, []int{3, 3, 3, 32}) || e.Size != 3*3*3*32*4 {
		t.Fatalf("Entry(%q) = %+v, %v", k, e, ok)
	}
	x, err := r.Read(k)
	if err != nil {
		t.Fatal(err)
	}
	// The CRC32C stored (masked) in the index matches the shard bytes read
	// independently here.
	raw := make([]byte, e.Size)
	f, err := os.Open(ShardPath(r.Prefix(), e.Shard, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(raw, e.Offset); err != nil {
		t.Fatal(err)
	}
	if crc32.Checksum(raw, crc32.MakeTable(crc32.Castagnoli)) != e.CRC32C {
		t.Errorf("CRC32C of the raw bytes does not match the entry")
	}
	if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[len(raw)-4:])); got != x.F32[len(x.F32)-1] {
		t.Errorf("last value %v, raw bytes say %v", x.F32[len(x.F32)-1], got)
	}
	if it, _ := r.Read("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE"); it == nil || it.DType != tensor.Int64 || it.Rank() != 0 || it.I64[0] <= 0 {
		t.Errorf("optimizer/iter = %v, want a positive int64 scalar", it)
	}

	// The TF1 model: two shards, the object graph alone in the second.
	r1, err := Open(ps["tm-mobilenetv2-eyes-tf115"])
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	if r1.Header().GetNumShards() != 2 {
		t.Fatalf("num_shards = %d, want 2", r1.Header().GetNumShards())
	}
	og, _ := r1.Entry(ObjectGraphKey)
	if og.Shard != 1 || og.DType != tensor.String || og.Size != 50801 {
		t.Errorf("object graph entry %+v, want shard 1, string, 50801 bytes", og)
	}
	kern, ok := r1.Entry("layer_with_weights-0/layer_with_weights-0/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE")
	if !ok || kern.Shard != 0 || kern.DType != tensor.Float32 || !tensor.SameShape(kern.Shape, []int{3, 3, 3, 16}) {
		t.Errorf("first conv kernel entry %+v, %v; want shard 0 float32 [3 3 3 16]", kern, ok)
	}
}

// copyBundle copies a bundle into a temp dir and returns the new prefix.
func copyBundle(t *testing.T, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob(prefix + ".*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(prefix))
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestCorruption(t *testing.T) {
	src := sharedPrefixes(t)["cifar10-logits-tf28"]
	const k = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"

	t.Run("flipped data byte", func(t *testing.T) {
		p := copyBundle(t, src)
		r0, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := r0.Entry(k)
		r0.Close()
		shard := ShardPath(p, 0, 1)
		b, _ := os.ReadFile(shard)
		b[e.Offset+e.Size/2] ^= 0x40
		os.WriteFile(shard, b, 0o644)
		r, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Read(k)
		wantErr(t, err, k, "checksum mismatch", shard)
		// Other tensors still read.
		if _, err := r.Read("layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE"); err != nil {
			t.Error(err)
		}
	})
	t.Run("flipped string byte", func(t *testing.T) {
		p := copyBundle(t, src)
		r0, _ := Open(p)
		e, _ := r0.Entry(ObjectGraphKey)
		r0.Close()
		shard := ShardPath(p, 0, 1)
		b, _ := os.ReadFile(shard)
		b[e.Offset+e.Size-3] ^= 1
		os.WriteFile(shard, b, 0o644)
		r, _ := Open(p)
		defer r.Close()
		_, err := r.ObjectGraph()
		wantErr(t, err, ObjectGraphKey, "checksum mismatch")
	})
	t.Run("truncated shard", func(t *testing.T) {
		p := copyBundle(t, src)
		shard := ShardPath(p, 0, 1)
		b, _ := os.ReadFile(shard)
		os.WriteFile(shard, b[:len(b)-100], 0o644)
		_, err := Open(p)
		wantErr(t, err, shard, "truncated", "run past the end")
	})
	t.Run("missing shard", func(t *testing.T) {
		p := copyBundle(t, src)
		os.Remove(ShardPath(p, 0, 1))
		_, err := Open(p)
		wantErr(t, err, ShardPath(p, 0, 1))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v does not wrap os.ErrNotExist", err)
		}
	})
	t.Run("missing second shard of TF1 model", func(t *testing.T) {
		p := copyBundle(t, sharedPrefixes(t)["tm-mobilenetv2-eyes-tf115"])
		os.Remove(ShardPath(p, 1, 2))
		_, err := Open(p)
		wantErr(t, err, ShardPath(p, 1, 2), ObjectGraphKey)
	})
	t.Run("missing index", func(t *testing.T) {
		p := copyBundle(t, src)
		os.Remove(p + ".index")
		_, err := Open(p)
		wantErr(t, err, p+".index")
	})
	t.Run("corrupt index", func(t *testing.T) {
		p := copyBundle(t, src)
		b, _ := os.ReadFile(p + ".index")
		b[100] ^= 0x10
		os.WriteFile(p+".index", b, 0o644)
		_, err := Open(p)
		wantErr(t, err, p+".index", "checksum mismatch")
	})
}

// --- Synthetic bundles for the edge cases the real files lack. They are
// written with goleveldb's table writer, an implementation independent of
// readTable.

type synthEntry struct {
	key   string
	entry *protobufpb.BundleEntryProto
}

func writeIndex(t testing.TB, path string, header *protobufpb.BundleHeaderProto, entries []synthEntry) {
	t.Helper()
	var buf bytes.Buffer
	w := table.NewWriter(&buf, &opt.Options{Compression: opt.NoCompression, BlockSize: 64})
	if header != nil {
		hb, _ := proto.Marshal(header)
		if err := w.Append(nil, hb); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		b, _ := proto.Marshal(e.entry)
		if err := w.Append([]byte(e.key), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func shapeProto(dims ...int) *protobufpb.BundleEntryProto {
	return &protobufpb.BundleEntryProto{Shape: tensor.ShapeProto(dims)}
}

// encodeStrings lays strings out as tensor_bundle.cc's WriteStringTensor
// does and returns the bytes and the (unmasked) entry checksum.
func encodeStrings(ss []string) ([]byte, uint32) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	var out []byte
	var crc uint32
	for _, s := range ss {
		out = binary.AppendUvarint(out, uint64(len(s)))
		crc = crc32.Update(crc, tab, binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	}
	lc := binary.LittleEndian.AppendUint32(nil, maskCRC(crc))
	out = append(out, lc...)
	crc = crc32.Update(crc, tab, lc)
	for _, s := range ss {
		out = append(out, s...)
		crc = crc32.Update(crc, tab, []byte(s))
	}
	return out, crc
}

func TestSynthetic(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	floats := []byte{0, 0, 128, 63, 0, 0, 0, 64} // 1.0, 2.0
	strs, strCRC := encodeStrings([]string{"ab", "", "xyz"})
	data := append(append([]byte(nil), floats...), strs...)
	hdr := &protobufpb.BundleHeaderProto{NumShards: 1}
	good := func() []synthEntry {
		f := shapeProto(2)
		f.Dtype = tensor.ProtoDType(tensor.Float32)
		f.Size = 8
		f.Crc32C = maskCRC(crc32.Checksum(floats, tab))
		s := shapeProto(3)
		s.Dtype = tensor.ProtoDType(tensor.String)
		s.Offset = 8
		s.Size = int64(len(strs))
		s.Crc32C = maskCRC(strCRC)
		return []synthEntry{{"f", f}, {"s", s}}
	}
	setup := func(t *testing.T, h *protobufpb.BundleHeaderProto, es []synthEntry) string {
		p := filepath.Join(t.TempDir(), "b")
		writeIndex(t, p+".index", h, es)
		os.WriteFile(ShardPath(p, 0, 1), data, 0o644)
		return p
	}

	t.Run("good", func(t *testing.T) {
		r, err := Open(setup(t, hdr, good()))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		f, err := r.Read("f")
		if err != nil || f.F32[0] != 1 || f.F32[1] != 2 {
			t.Fatalf("f = %v, %v", f, err)
		}
		s, err := r.Read("s")
		if err != nil || string(s.Str[0]) != "ab" || len(s.Str[1]) != 0 || string(s.Str[2]) != "xyz" {
			t.Fatalf("s = %v, %v", s, err)
		}
		if _, err := r.ObjectGraph(); !errors.Is(err, ErrNoObjectGraph) {
			t.Errorf("ObjectGraph error %v, want ErrNoObjectGraph", err)
		}
		if _, err := r.Read("nope"); err == nil {
			t.Error("Read of a missing key succeeded")
		}
		r.Close()
		if _, err := r.Read("f"); err == nil {
			t.Error("Read after Close succeeded")
		}
	})
	bad := []struct {
		name   string
		hdr    *protobufpb.BundleHeaderProto
		mutate func(es []synthEntry)
		want   []string
	}{
		{"no header", nil, nil, []string{"no bundle header"}},
		{"big endian", &protobufpb.BundleHeaderProto{NumShards: 1, Endianness: protobufpb.BundleHeaderProto_BIG}, nil, []string{"BIG-endian"}},
		{"zero shards", &protobufpb.BundleHeaderProto{}, nil, []string{"num_shards 0"}},
		{"shard out of range", hdr, func(es []synthEntry) { es[0].entry.ShardId = 3 }, []string{`"f"`, "shard 3 out of range"}},
		{"size mismatch", hdr, func(es []synthEntry) { es[0].entry.Shape = tensor.ShapeProto([]int{3}) }, []string{`"f"`, "needs 12"}},
		{"absurd shape", hdr, func(es []synthEntry) { es[0].entry.Shape = tensor.ShapeProto([]int{1 << 30, 1 << 30}) }, []string{`"f"`, "more than"}},
		{"negative dim", hdr, func(es []synthEntry) { es[0].entry.Shape = tensor.ShapeProto([]int{-2}) }, []string{`"f"`, "bad dimension"}},
		{"past end", hdr, func(es []synthEntry) { es[1].entry.Offset = 9 }, []string{`"s"`, "run past the end"}},
		{"too few string bytes", hdr, func(es []synthEntry) { es[1].entry.Shape = tensor.ShapeProto([]int{100}) }, []string{`"s"`, "too few"}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			es := good()
			if c.mutate != nil {
				c.mutate(es)
			}
			_, err := Open(setup(t, c.hdr, es))
			wantErr(t, err, c.want...)
		})
	}
	readBad := []struct {
		name   string
		mutate func(es []synthEntry)
		key    string
		want   []string
	}{
		{"crc", func(es []synthEntry) { es[0].entry.Crc32C++ }, "f", []string{"checksum mismatch"}},
		{"string crc", func(es []synthEntry) { es[1].entry.Crc32C++ }, "s", []string{"checksum mismatch"}},
		{"string lengths", func(es []synthEntry) { es[1].entry.Shape = tensor.ShapeProto([]int{2}) }, "s", []string{"length checksum"}},
		{"unsupported dtype", func(es []synthEntry) { es[0].entry.Dtype = 19 /* DT_HALF */ }, "f", []string{"DT_HALF"}},
		{"sliced", func(es []synthEntry) {
			es[0].entry.Slices = append(es[0].entry.Slices, nil)
		}, "f", []string{"partitioned", "not supported"}},
	}
	for _, c := range readBad {
		t.Run(c.name, func(t *testing.T) {
			es := good()
			c.mutate(es)
			r, err := Open(setup(t, hdr, es))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			_, err = r.Read(c.key)
			wantErr(t, err, append(c.want, `"`+c.key+`"`)...)
		})
	}
}

func TestMaskCRC(t *testing.T) {
	// crc32c::Mask from TensorFlow/LevelDB: rotate right by 15, add a
	// constant. Values computed by hand from the definition.
	for _, c := range []uint32{0, 1, 0xdeadbeef, 0xffffffff} {
		want := ((c >> 15) | (c << 17)) + 0xa282ead8
		if maskCRC(c) != want || unmaskCRC(want) != c {
			t.Errorf("mask(%#x) = %#x, want %#x; unmask back %#x", c, maskCRC(c), want, unmaskCRC(want))
		}
	}
	// LevelDB's crc32c_test: CRC32C of 32 zero bytes is 0x8a9136aa.
	if got := crc32.Checksum(make([]byte, 32), castagnoli); got != 0x8a9136aa {
		t.Errorf("crc32c(zeros) = %#x", got)
	}
}

func FuzzIndex(f *testing.F) {
	if dir := testenv.SharedModelsDir(); dir != "" {
		idx, _ := filepath.Glob(filepath.Join(dir, "*", "variables", "variables.index"))
		for _, p := range idx {
			if b, err := os.ReadFile(p); err == nil && len(b) < 6000 {
				f.Add(b)
			}
		}
	}
	p := filepath.Join(f.TempDir(), "seed.index")
	e := shapeProto(2, 3)
	e.Dtype = tensor.ProtoDType(tensor.Float32)
	e.Size = 24
	writeIndex(f, p, &protobufpb.BundleHeaderProto{NumShards: 1}, []synthEntry{{"a", e}, {"ab", e}, {"b/c", e}})
	if b, err := os.ReadFile(p); err == nil {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseIndex("fuzz", "fuzz.index", data, func(i, n int) (int64, error) { return 1 << 20, nil })
		if err != nil {
			return
		}
		for _, k := range r.Keys() {
			e, ok := r.Entry(k)
			if !ok {
				t.Fatalf("key %q has no entry", k)
			}
			if e.Slices == 0 && (e.Offset < 0 || e.Size < 0 || e.Offset+e.Size > 1<<20) {
				t.Fatalf("entry %+v escapes the shard", e)
			}
		}
	})
}
