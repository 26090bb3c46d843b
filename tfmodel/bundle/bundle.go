// Package bundle reads TensorFlow tensor bundles: the checkpoint format of
// tf.train.Checkpoint and tf.compat.v1.train.Saver (V2), and the variables/
// directory of a SavedModel.
//
// A bundle with prefix P is a file P.index, a LevelDB-format table mapping
// each tensor's key to a BundleEntryProto (dtype, shape, shard, offset,
// size, CRC32C), plus data shards P.data-00000-of-0000N holding the raw
// little-endian tensor bytes. The entry under the empty key is the
// BundleHeaderProto. Open reads and validates the whole index; Read reads one
// tensor's bytes from its shard and checks them against the stored CRC32C.
package bundle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	protobufpb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// ObjectGraphKey is the key under which TF2 checkpoints store the
// serialized TrackableObjectGraph.
const ObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH"

// ErrNoObjectGraph is returned by ObjectGraph for bundles written without
// an object graph (name-based TF1 checkpoints).
var ErrNoObjectGraph = errors.New("bundle has no " + ObjectGraphKey + " entry")

// Limits on untrusted headers.
const (
	maxIndexSize = 1 << 30 // bytes of .index read into memory
	maxShards    = 1 << 16
)

// Entry describes one tensor of a bundle.
type Entry struct {
	// Key is the tensor's checkpoint key, e.g.
	// "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE".
	Key string
	// DType is the element type; Invalid for a TensorFlow type tbviz does
	// not decode (Read then reports which).
	DType tensor.DType
	// Shape is the tensor's shape ([] for a scalar).
	Shape []int
	// Shard is the data shard holding the bytes.
	Shard int
	// Offset and Size locate the bytes within the shard.
	Offset, Size int64
	// CRC32C is the unmasked CRC32C (Castagnoli) of the bytes as stored; for
	// strings it is TensorFlow's checksum of the string layout (see Read).
	CRC32C uint32
	// Slices is the number of slices of a partitioned variable, 0 for an
	// ordinary tensor. Partitioned variables cannot be read.
	Slices int
}

// Reader reads tensors from a bundle. It is safe for concurrent use.
type Reader struct {
	prefix  string
	header  *protobufpb.BundleHeaderProto
	keys    []string
	entries map[string]Entry
	rawType map[string]string // TensorFlow dtype name of entries with DType Invalid

	mu     sync.Mutex
	shards []*os.File // opened on first use
	closed bool
}

// ShardPath returns the file name of shard i of n for a bundle prefix, in
// TensorFlow's "%s.data-%05d-of-%05d" form.
func ShardPath(prefix string, i, n int) string {
	return fmt.Sprintf("%s.data-%05d-of-%05d", prefix, i, n)
}

// Open reads and validates the index of the bundle with the given prefix
// (files prefix.index and prefix.data-*): every entry must name an existing
// shard and lie within it, with a size matching its dtype and shape.
func Open(prefix string) (*Reader, error) {
	indexPath := prefix + ".index"
	f, err := os.Open(indexPath)
	if err != nil {
		return nil, fmt.Errorf("open bundle %s: %w", prefix, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open bundle %s: %w", prefix, err)
	}
	if st.Size() > maxIndexSize {
		return nil, fmt.Errorf("open bundle %s: index %s is %d bytes, more than the %d-byte limit", prefix, indexPath, st.Size(), maxIndexSize)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("open bundle %s: read %s: %w", prefix, indexPath, err)
	}
	r, err := parseIndex(prefix, indexPath, data, shardSizes(prefix))
	if err != nil {
		return nil, fmt.Errorf("open bundle %s: %w", prefix, err)
	}
	return r, nil
}

// shardSizes returns a function that stats shard i of n.
func shardSizes(prefix string) func(i, n int) (int64, error) {
	return func(i, n int) (int64, error) {
		st, err := os.Stat(ShardPath(prefix, i, n))
		if err != nil {
			return 0, fmt.Errorf("data shard %d of %d: %w", i, n, err)
		}
		return st.Size(), nil
	}
}

// parseIndex builds a Reader from index bytes; shardSize reports the size
// of each data shard (or why it is unusable).
func parseIndex(prefix, indexPath string, data []byte, shardSize func(i, n int) (int64, error)) (*Reader, error) {
	kvs, err := readTable(data)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", indexPath, err)
	}
	if len(kvs) == 0 || len(kvs[0].key) != 0 {
		return nil, fmt.Errorf("index %s: no bundle header (entry with the empty key)", indexPath)
	}
	hdr := &protobufpb.BundleHeaderProto{}
	if err := proto.Unmarshal(kvs[0].value, hdr); err != nil {
		return nil, fmt.Errorf("index %s: bundle header: %w", indexPath, err)
	}
	if err := checkHeader(hdr); err != nil {
		return nil, fmt.Errorf("index %s: %w", indexPath, err)
	}
	numShards := int(hdr.GetNumShards())
	sizes := make([]int64, numShards)
	for i := range sizes {
		sizes[i] = -1 // stat lazily: only shards that entries use must exist
	}
	r := &Reader{
		prefix:  prefix,
		header:  hdr,
		entries: make(map[string]Entry, len(kvs)-1),
		rawType: map[string]string{},
		shards:  make([]*os.File, numShards),
	}
	for _, e := range kvs[1:] {
		key := string(e.key)
		bep := &protobufpb.BundleEntryProto{}
		if err := proto.Unmarshal(e.value, bep); err != nil {
			return nil, fmt.Errorf("index %s: entry %q: %w", indexPath, key, err)
		}
		ent, err := entryFromProto(key, bep)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", indexPath, err)
		}
		if ent.DType == tensor.Invalid {
			r.rawType[key] = bep.GetDtype().String()
		}
		if ent.Slices == 0 {
			if ent.Shard < 0 || ent.Shard >= numShards {
				return nil, fmt.Errorf("index %s: entry %q: shard %d out of range (bundle has %d shards)", indexPath, key, ent.Shard, numShards)
			}
			if sizes[ent.Shard] < 0 {
				if sizes[ent.Shard], err = shardSize(ent.Shard, numShards); err != nil {
					return nil, fmt.Errorf("entry %q: %w", key, err)
				}
			}
			if ent.Offset > sizes[ent.Shard] || ent.Size > sizes[ent.Shard]-ent.Offset {
				return nil, fmt.Errorf("entry %q: bytes [%d, %d) run past the end of %s (%d bytes; truncated?)",
					key, ent.Offset, ent.Offset+ent.Size, ShardPath(prefix, ent.Shard, numShards), sizes[ent.Shard])
			}
		}
		r.entries[key] = ent
		r.keys = append(r.keys, key)
	}
	sort.Strings(r.keys) // already in table order; sorting documents the contract
	return r, nil
}

func checkHeader(h *protobufpb.BundleHeaderProto) error {
	if h.GetEndianness() != protobufpb.BundleHeaderProto_LITTLE {
		return fmt.Errorf("bundle is %v-endian; only little-endian bundles are supported", h.GetEndianness())
	}
	if n := h.GetNumShards(); n < 1 || n > maxShards {
		return fmt.Errorf("bundle header has num_shards %d, expected 1..%d", n, maxShards)
	}
	// tensor_bundle.cc writes producer 1, min_consumer 0 (kTensorBundleVersion).
	if v := h.GetVersion(); v != nil {
		if v.GetMinConsumer() > 1 {
			return fmt.Errorf("bundle requires reader version %d (written by producer version %d); this reader is version 1", v.GetMinConsumer(), v.GetProducer())
		}
		for _, b := range v.GetBadConsumers() {
			if b == 1 {
				return errors.New("bundle marks reader version 1 as bad")
			}
		}
	}
	return nil
}

// elemSize is the stored byte size of one element of the fixed-size types.
func elemSize(dt tensor.DType) int {
	switch dt {
	case tensor.Float32, tensor.Int32:
		return 4
	case tensor.Float64, tensor.Int64:
		return 8
	case tensor.Bool, tensor.Uint8:
		return 1
	}
	return 0
}

func entryFromProto(key string, p *protobufpb.BundleEntryProto) (Entry, error) {
	ent := Entry{
		Key:    key,
		Shard:  int(p.GetShardId()),
		Offset: p.GetOffset(),
		Size:   p.GetSize(),
		CRC32C: unmaskCRC(p.GetCrc32C()),
		Slices: len(p.GetSlices()),
	}
	if dt, err := tensor.FromProtoDType(p.GetDtype()); err == nil {
		ent.DType = dt
	}
	if p.GetShape().GetUnknownRank() {
		return Entry{}, fmt.Errorf("entry %q: shape has unknown rank", key)
	}
	ent.Shape = make([]int, len(p.GetShape().GetDim()))
	for i, d := range p.GetShape().GetDim() {
		if d.GetSize() < 0 || d.GetSize() > tensor.MaxElements {
			return Entry{}, fmt.Errorf("entry %q: bad dimension %d in shape", key, d.GetSize())
		}
		ent.Shape[i] = int(d.GetSize())
	}
	if err := tensor.CheckShape(ent.Shape); err != nil {
		return Entry{}, fmt.Errorf("entry %q: %w", key, err)
	}
	if ent.Slices > 0 {
		return ent, nil // a partitioned variable's entry holds no bytes itself
	}
	if ent.Offset < 0 || ent.Size < 0 {
		return Entry{}, fmt.Errorf("entry %q: negative offset %d or size %d", key, ent.Offset, ent.Size)
	}
	n := int64(tensor.NumElements(ent.Shape))
	if es := elemSize(ent.DType); es > 0 && ent.Size != n*int64(es) {
		return Entry{}, fmt.Errorf("entry %q: %d bytes stored, but %v %v needs %d", key, ent.Size, ent.DType, tensor.ShapeString(ent.Shape), n*int64(es))
	}
	// A string tensor stores at least one length byte per element and a
	// 4-byte checksum of the lengths.
	if ent.DType == tensor.String && ent.Size < n+4 {
		return Entry{}, fmt.Errorf("entry %q: %d bytes stored, too few for %d strings", key, ent.Size, n)
	}
	return ent, nil
}

// Prefix returns the bundle prefix passed to Open.
func (r *Reader) Prefix() string { return r.prefix }

// Keys returns the tensor keys in sorted order (the header is not a key).
func (r *Reader) Keys() []string { return append([]string(nil), r.keys...) }

// Entry returns the index entry for key.
func (r *Reader) Entry(key string) (Entry, bool) {
	e, ok := r.entries[key]
	if ok {
		e.Shape = append([]int(nil), e.Shape...)
	}
	return e, ok
}

// Header returns the bundle header (num_shards, endianness, version).
func (r *Reader) Header() *protobufpb.BundleHeaderProto { return r.header }

// shard returns the open file of shard i.
func (r *Reader) shard(i int) (*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("bundle reader is closed")
	}
	if r.shards[i] == nil {
		f, err := os.Open(ShardPath(r.prefix, i, len(r.shards)))
		if err != nil {
			return nil, err
		}
		r.shards[i] = f
	}
	return r.shards[i], nil
}

// Read reads, checks and decodes the tensor stored under key. Only the
// entry's bytes are read. Numeric tensors are checked against the entry's
// CRC32C of their raw bytes; string tensors use TensorFlow's layout
// ([varint64 length]... [masked CRC32C of the lengths] [bytes]...), whose
// checksum covers each length as a little-endian uint32 (uint64 above
// 2^32-1), the length checksum and the bytes.
func (r *Reader) Read(key string) (*tensor.Tensor, error) {
	e, ok := r.entries[key]
	if !ok {
		return nil, fmt.Errorf("bundle %s: no tensor %q", r.prefix, key)
	}
	if e.Slices > 0 {
		return nil, fmt.Errorf("bundle %s: tensor %q is a partitioned variable (%d slices); sliced variables are not supported", r.prefix, key, e.Slices)
	}
	if e.DType == tensor.Invalid {
		return nil, fmt.Errorf("bundle %s: tensor %q has dtype %s, which tbviz does not decode", r.prefix, key, r.rawType[key])
	}
	path := ShardPath(r.prefix, e.Shard, len(r.shards))
	f, err := r.shard(e.Shard)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: tensor %q: %w", r.prefix, key, err)
	}
	buf := make([]byte, e.Size)
	if _, err := f.ReadAt(buf, e.Offset); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("bundle %s: tensor %q: read %d bytes at %d of %s: %w", r.prefix, key, e.Size, e.Offset, path, err)
	}
	t, err := decodeEntry(e, buf)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: tensor %q in %s: %w", r.prefix, key, path, err)
	}
	return t, nil
}

// decodeEntry checks and decodes an entry's bytes.
func decodeEntry(e Entry, buf []byte) (*tensor.Tensor, error) {
	if e.DType == tensor.String {
		return decodeStrings(e, buf)
	}
	if got := crc32.Checksum(buf, castagnoli); got != e.CRC32C {
		return nil, fmt.Errorf("checksum mismatch: stored CRC32C %#08x, data has %#08x (corrupted data)", e.CRC32C, got)
	}
	return tensor.FromBytes(e.DType, e.Shape, buf)
}

// decodeStrings decodes a DT_STRING entry.
func decodeStrings(e Entry, buf []byte) (*tensor.Tensor, error) {
	n := tensor.NumElements(e.Shape)
	lens := make([]uint64, n)
	crc := uint32(0)
	p := 0
	var remaining = uint64(len(buf))
	var sum uint64
	var tmp [8]byte
	for i := range lens {
		l, k := binary.Uvarint(buf[p:])
		if k <= 0 {
			return nil, fmt.Errorf("string %d: bad length varint", i)
		}
		p += k
		if l > remaining {
			return nil, fmt.Errorf("string %d: length %d exceeds the %d-byte entry", i, l, len(buf))
		}
		sum += l
		if sum > remaining {
			return nil, fmt.Errorf("string lengths total more than the %d-byte entry", len(buf))
		}
		lens[i] = l
		if l <= 0xffffffff {
			binary.LittleEndian.PutUint32(tmp[:], uint32(l))
			crc = crc32.Update(crc, castagnoli, tmp[:4])
		} else {
			binary.LittleEndian.PutUint64(tmp[:], l)
			crc = crc32.Update(crc, castagnoli, tmp[:8])
		}
	}
	if len(buf)-p < 4 {
		return nil, errors.New("string entry ends before its length checksum")
	}
	lenCRC := binary.LittleEndian.Uint32(buf[p:])
	if unmaskCRC(lenCRC) != crc {
		return nil, fmt.Errorf("string length checksum mismatch: stored %#08x, lengths give %#08x (corrupted data)", unmaskCRC(lenCRC), crc)
	}
	crc = crc32.Update(crc, castagnoli, buf[p:p+4])
	p += 4
	if uint64(len(buf)-p) != sum {
		return nil, fmt.Errorf("string entry has %d bytes of string data, lengths say %d", len(buf)-p, sum)
	}
	crc = crc32.Update(crc, castagnoli, buf[p:])
	if crc != e.CRC32C {
		return nil, fmt.Errorf("checksum mismatch: stored CRC32C %#08x, data has %#08x (corrupted data)", e.CRC32C, crc)
	}
	t := tensor.New(tensor.String, e.Shape...)
	for i, l := range lens {
		t.Str[i] = buf[p : p+int(l) : p+int(l)]
		p += int(l)
	}
	return t, nil
}

// ObjectGraph decodes the checkpoint's TrackableObjectGraph, which maps the
// objects of a TF2 checkpoint (layers, variables, optimizer slots) to their
// keys. It returns ErrNoObjectGraph when the bundle has none.
func (r *Reader) ObjectGraph() (*protobufpb.TrackableObjectGraph, error) {
	if _, ok := r.entries[ObjectGraphKey]; !ok {
		return nil, fmt.Errorf("bundle %s: %w", r.prefix, ErrNoObjectGraph)
	}
	t, err := r.Read(ObjectGraphKey)
	if err != nil {
		return nil, err
	}
	if t.DType != tensor.String || len(t.Str) != 1 {
		return nil, fmt.Errorf("bundle %s: %s is %v%s, expected a string scalar", r.prefix, ObjectGraphKey, t.DType, tensor.ShapeString(t.Shape))
	}
	g := &protobufpb.TrackableObjectGraph{}
	if err := proto.Unmarshal(t.Str[0], g); err != nil {
		return nil, fmt.Errorf("bundle %s: decode %s: %w", r.prefix, ObjectGraphKey, err)
	}
	return g, nil
}

// Close closes the data shards opened by Read.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var first error
	for i, f := range r.shards {
		if f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
			r.shards[i] = nil
		}
	}
	return first
}
