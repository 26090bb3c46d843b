package tbwriter

import (
	"math"

	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the messages encoded by hand (tensorflow/core/util/
// event.proto, framework/summary.proto, tensor.proto, tensor_shape.proto).
// Hand encoding keeps the hot paths free of allocations and of a second
// copy of image data; tests check the bytes against the generated types.
const (
	fieldEventWallTime   = 1
	fieldEventStep       = 2
	fieldEventSummary    = 5
	fieldSummaryValue    = 1
	fieldValueTag        = 1
	fieldValueTensor     = 8
	fieldValueMetadata   = 9
	fieldTensorDtype     = 1
	fieldTensorShape     = 2
	fieldTensorContent   = 4
	fieldTensorDoubleVal = 6
	fieldTensorStringVal = 8
	fieldShapeDim        = 2
	fieldDimSize         = 1
)

// tensorEnc describes a TensorProto to encode: dtype, shape, and one of
// doubles (double_val), strs (string_val) or content (tensor_content).
type tensorEnc struct {
	dtype   typespb.DataType
	ndims   int
	dims    [2]int64
	doubles []float64
	strs    [][]byte
	content []byte
}

// dimBody is the size of a TensorShapeProto.Dim holding d (proto3 omits a
// zero size).
func dimBody(d int64) int {
	if d == 0 {
		return 0
	}
	return protowire.SizeTag(fieldDimSize) + protowire.SizeVarint(uint64(d))
}

func dimSize(d int64) int {
	return protowire.SizeTag(fieldShapeDim) + protowire.SizeBytes(dimBody(d))
}

func (t *tensorEnc) shapeSize() int {
	n := 0
	for _, d := range t.dims[:t.ndims] {
		n += dimSize(d)
	}
	return n
}

func (t *tensorEnc) size() int {
	n := protowire.SizeTag(fieldTensorDtype) + protowire.SizeVarint(uint64(t.dtype))
	n += protowire.SizeTag(fieldTensorShape) + protowire.SizeBytes(t.shapeSize())
	if len(t.content) > 0 {
		n += protowire.SizeTag(fieldTensorContent) + protowire.SizeBytes(len(t.content))
	}
	if len(t.doubles) > 0 {
		n += protowire.SizeTag(fieldTensorDoubleVal) + protowire.SizeBytes(8*len(t.doubles))
	}
	for _, s := range t.strs {
		n += protowire.SizeTag(fieldTensorStringVal) + protowire.SizeBytes(len(s))
	}
	return n
}

func (t *tensorEnc) appendTo(b []byte) []byte {
	b = protowire.AppendTag(b, fieldTensorDtype, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.dtype))
	b = protowire.AppendTag(b, fieldTensorShape, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(t.shapeSize()))
	for _, d := range t.dims[:t.ndims] {
		b = protowire.AppendTag(b, fieldShapeDim, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(dimBody(d)))
		if d != 0 {
			b = protowire.AppendTag(b, fieldDimSize, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(d))
		}
	}
	if len(t.content) > 0 {
		b = protowire.AppendTag(b, fieldTensorContent, protowire.BytesType)
		b = protowire.AppendBytes(b, t.content)
	}
	if len(t.doubles) > 0 {
		b = protowire.AppendTag(b, fieldTensorDoubleVal, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(8*len(t.doubles)))
		for _, v := range t.doubles {
			b = protowire.AppendFixed64(b, math.Float64bits(v))
		}
	}
	for _, s := range t.strs {
		b = protowire.AppendTag(b, fieldTensorStringVal, protowire.BytesType)
		b = protowire.AppendBytes(b, s)
	}
	return b
}

// appendSummaryEvent appends a serialized Event with one summary value:
// Event{wall_time, step, summary: {value: [{tag, metadata, tensor}]}}.
// metadata is a serialized SummaryMetadata, or nil for none.
func appendSummaryEvent(b []byte, wall float64, step int64, tag string, metadata []byte, t *tensorEnc) []byte {
	ts := t.size()
	value := protowire.SizeTag(fieldValueTag) + protowire.SizeBytes(len(tag)) +
		protowire.SizeTag(fieldValueTensor) + protowire.SizeBytes(ts)
	if metadata != nil {
		value += protowire.SizeTag(fieldValueMetadata) + protowire.SizeBytes(len(metadata))
	}
	summary := protowire.SizeTag(fieldSummaryValue) + protowire.SizeBytes(value)
	total := protowire.SizeTag(fieldEventWallTime) + 8 + protowire.SizeTag(fieldEventSummary) + protowire.SizeBytes(summary)
	if step != 0 {
		total += protowire.SizeTag(fieldEventStep) + protowire.SizeVarint(uint64(step))
	}
	if cap(b)-len(b) < total {
		nb := make([]byte, len(b), len(b)+total)
		copy(nb, b)
		b = nb
	}
	b = protowire.AppendTag(b, fieldEventWallTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wall))
	if step != 0 {
		b = protowire.AppendTag(b, fieldEventStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(step))
	}
	b = protowire.AppendTag(b, fieldEventSummary, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(summary))
	b = protowire.AppendTag(b, fieldSummaryValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(value))
	b = protowire.AppendTag(b, fieldValueTag, protowire.BytesType)
	b = protowire.AppendString(b, tag)
	if metadata != nil {
		b = protowire.AppendTag(b, fieldValueMetadata, protowire.BytesType)
		b = protowire.AppendBytes(b, metadata)
	}
	b = protowire.AppendTag(b, fieldValueTensor, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ts))
	return t.appendTo(b)
}
