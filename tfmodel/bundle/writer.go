package bundle

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/table"
	"google.golang.org/protobuf/proto"

	versionspb "github.com/wamuir/graft/tensorflow/core/framework/versions_go_proto"
	protobufpb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Writer writes a tensor bundle with one data shard, the layout that
// tf.train.Checkpoint and SavedModel use on a single machine:
// prefix.data-00000-of-00001 and prefix.index.
//
// Tensors are written to the data shard as they are added; Close writes
// the index. Both files are written under temporary names and renamed into
// place by Close, the index last, so a reader that finds prefix.index finds
// a complete bundle. A Writer is not safe for concurrent use.
type Writer struct {
	prefix  string
	tmpData string
	f       *os.File
	bw      *bufio.Writer
	offset  int64
	entries map[string]*protobufpb.BundleEntryProto
	err     error
	closed  bool
}

// NewWriter starts a bundle with the given prefix (the path without
// ".index"). The prefix's directory must exist.
func NewWriter(prefix string) (*Writer, error) {
	dir, base := filepath.Split(prefix)
	if base == "" {
		return nil, fmt.Errorf("write bundle %q: prefix names a directory, expected a path such as dir/ckpt-1", prefix)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".data-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("write bundle %s: %w", prefix, err)
	}
	return &Writer{
		prefix:  prefix,
		tmpData: f.Name(),
		f:       f,
		bw:      bufio.NewWriterSize(f, 1<<16),
		entries: map[string]*protobufpb.BundleEntryProto{},
	}, nil
}

// Add appends tensor t under key. Keys must be unique and non-empty (the
// empty key holds the bundle header). Numeric, bool and uint8 tensors are
// stored as little-endian raw bytes, string tensors in TensorFlow's string
// layout; the entry records the CRC32C that TensorFlow's reader checks.
func (w *Writer) Add(key string, t *tensor.Tensor) error {
	if w.closed {
		return fmt.Errorf("write bundle %s: add %q: writer is closed", w.prefix, key)
	}
	if w.err != nil {
		return w.err
	}
	if key == "" {
		return fmt.Errorf("write bundle %s: the empty key is reserved for the bundle header", w.prefix)
	}
	if _, dup := w.entries[key]; dup {
		return fmt.Errorf("write bundle %s: key %q added twice", w.prefix, key)
	}
	if t == nil {
		return fmt.Errorf("write bundle %s: key %q: nil tensor", w.prefix, key)
	}
	b, crc, err := encodeEntry(t)
	if err != nil {
		return fmt.Errorf("write bundle %s: key %q: %w", w.prefix, key, err)
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("write bundle %s: key %q: %w", w.prefix, key, err)
		return w.err
	}
	w.entries[key] = &protobufpb.BundleEntryProto{
		Dtype:  tensor.ProtoDType(t.DType),
		Shape:  tensor.ShapeProto(t.Shape),
		Offset: w.offset,
		Size:   int64(len(b)),
		Crc32C: maskCRC(crc),
	}
	w.offset += int64(len(b))
	return nil
}

// encodeEntry returns the stored bytes of t and their (unmasked) CRC32C.
func encodeEntry(t *tensor.Tensor) ([]byte, uint32, error) {
	if err := tensor.CheckShape(t.Shape); err != nil {
		return nil, 0, err
	}
	n := tensor.NumElements(t.Shape)
	var b []byte
	switch t.DType {
	case tensor.Float32:
		if len(t.F32) != n {
			return nil, 0, fmt.Errorf("float32 tensor has %d values for shape %v", len(t.F32), t.Shape)
		}
		b = make([]byte, 4*n)
		for i, v := range t.F32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case tensor.Float64:
		if len(t.F64) != n {
			return nil, 0, fmt.Errorf("float64 tensor has %d values for shape %v", len(t.F64), t.Shape)
		}
		b = make([]byte, 8*n)
		for i, v := range t.F64 {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
	case tensor.Int32:
		if len(t.I32) != n {
			return nil, 0, fmt.Errorf("int32 tensor has %d values for shape %v", len(t.I32), t.Shape)
		}
		b = make([]byte, 4*n)
		for i, v := range t.I32 {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
	case tensor.Int64:
		if len(t.I64) != n {
			return nil, 0, fmt.Errorf("int64 tensor has %d values for shape %v", len(t.I64), t.Shape)
		}
		b = make([]byte, 8*n)
		for i, v := range t.I64 {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
	case tensor.Bool:
		if len(t.B) != n {
			return nil, 0, fmt.Errorf("bool tensor has %d values for shape %v", len(t.B), t.Shape)
		}
		b = make([]byte, n)
		for i, v := range t.B {
			if v {
				b[i] = 1
			}
		}
	case tensor.Uint8:
		if len(t.U8) != n {
			return nil, 0, fmt.Errorf("uint8 tensor has %d values for shape %v", len(t.U8), t.Shape)
		}
		b = append([]byte(nil), t.U8...)
	case tensor.String:
		if len(t.Str) != n {
			return nil, 0, fmt.Errorf("string tensor has %d values for shape %v", len(t.Str), t.Shape)
		}
		return encodeStringEntry(t.Str)
	default:
		return nil, 0, fmt.Errorf("dtype %v cannot be stored", t.DType)
	}
	return b, crc32.Checksum(b, castagnoli), nil
}

// encodeStringEntry lays out strings as TensorFlow's bundle writer does:
// varint64 lengths, the masked CRC32C of the lengths (each as a
// little-endian uint32, or uint64 when larger), then the bytes. The entry
// checksum covers the lengths as checksummed, the stored length checksum
// and the bytes.
func encodeStringEntry(ss [][]byte) ([]byte, uint32, error) {
	var b []byte
	var tmp [8]byte
	crc := uint32(0)
	for _, s := range ss {
		l := uint64(len(s))
		b = binary.AppendUvarint(b, l)
		if l <= math.MaxUint32 {
			binary.LittleEndian.PutUint32(tmp[:], uint32(l))
			crc = crc32.Update(crc, castagnoli, tmp[:4])
		} else {
			binary.LittleEndian.PutUint64(tmp[:], l)
			crc = crc32.Update(crc, castagnoli, tmp[:8])
		}
	}
	binary.LittleEndian.PutUint32(tmp[:], maskCRC(crc))
	b = append(b, tmp[:4]...)
	crc = crc32.Update(crc, castagnoli, tmp[:4])
	for _, s := range ss {
		b = append(b, s...)
		crc = crc32.Update(crc, castagnoli, s)
	}
	return b, crc, nil
}

// Close flushes the data shard, writes the index (header under the empty
// key, then the entries in key order) and renames both into place. After
// an error from Add, Close removes the temporary files and returns that
// error.
func (w *Writer) Close() error {
	if w.closed {
		return fmt.Errorf("write bundle %s: writer already closed", w.prefix)
	}
	w.closed = true
	err := w.finish()
	if err != nil {
		os.Remove(w.tmpData)
	}
	return err
}

func (w *Writer) finish() error {
	if w.err != nil {
		w.f.Close()
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.f.Close()
		return fmt.Errorf("write bundle %s: %w", w.prefix, err)
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("write bundle %s: %w", w.prefix, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("write bundle %s: %w", w.prefix, err)
	}
	if err := os.Rename(w.tmpData, ShardPath(w.prefix, 0, 1)); err != nil {
		return fmt.Errorf("write bundle %s: %w", w.prefix, err)
	}
	if err := w.writeIndex(); err != nil {
		return fmt.Errorf("write bundle %s: %w", w.prefix, err)
	}
	return nil
}

func (w *Writer) writeIndex() error {
	dir, base := filepath.Split(w.prefix)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".index-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriter(f)
	tw := table.NewWriter(bw, &opt.Options{Compression: opt.NoCompression})
	hdr, err := proto.Marshal(&protobufpb.BundleHeaderProto{
		NumShards:  1,
		Endianness: protobufpb.BundleHeaderProto_LITTLE,
		Version:    &versionspb.VersionDef{Producer: 1},
	})
	if err != nil {
		return err
	}
	if err := tw.Append(nil, hdr); err != nil {
		return err
	}
	keys := make([]string, 0, len(w.entries))
	for k := range w.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := proto.Marshal(w.entries[k])
		if err != nil {
			return fmt.Errorf("entry %q: %w", k, err)
		}
		if err := tw.Append([]byte(k), v); err != nil {
			return fmt.Errorf("entry %q: %w", k, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, w.prefix+".index"); err != nil {
		return err
	}
	ok = true
	return nil
}

// Write writes a single-shard bundle holding tensors (key → tensor) at
// prefix.
func Write(prefix string, tensors map[string]*tensor.Tensor) error {
	w, err := NewWriter(prefix)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(tensors))
	for k := range tensors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := w.Add(k, tensors[k]); err != nil {
			w.err = err // Close then discards the partial bundle
			return w.Close()
		}
	}
	return w.Close()
}
