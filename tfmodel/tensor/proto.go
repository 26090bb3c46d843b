package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
)

// FromProtoDType converts a TensorFlow DataType (reference types included).
func FromProtoDType(t typespb.DataType) (DType, error) {
	if t > 100 { // _REF types
		t -= 100
	}
	switch t {
	case typespb.DataType_DT_FLOAT:
		return Float32, nil
	case typespb.DataType_DT_DOUBLE:
		return Float64, nil
	case typespb.DataType_DT_INT32:
		return Int32, nil
	case typespb.DataType_DT_INT64:
		return Int64, nil
	case typespb.DataType_DT_BOOL:
		return Bool, nil
	case typespb.DataType_DT_STRING:
		return String, nil
	case typespb.DataType_DT_UINT8:
		return Uint8, nil
	}
	return Invalid, fmt.Errorf("unsupported TensorFlow dtype %v", t)
}

// ProtoDType converts a DType to TensorFlow's DataType.
func ProtoDType(d DType) typespb.DataType {
	switch d {
	case Float32:
		return typespb.DataType_DT_FLOAT
	case Float64:
		return typespb.DataType_DT_DOUBLE
	case Int32:
		return typespb.DataType_DT_INT32
	case Int64:
		return typespb.DataType_DT_INT64
	case Bool:
		return typespb.DataType_DT_BOOL
	case String:
		return typespb.DataType_DT_STRING
	case Uint8:
		return typespb.DataType_DT_UINT8
	}
	return typespb.DataType_DT_INVALID
}

// ShapeFromProto converts a TensorShapeProto (-1 for unknown dimensions;
// nil for unknown rank).
func ShapeFromProto(s *shapepb.TensorShapeProto) []int {
	if s == nil || s.GetUnknownRank() {
		return nil
	}
	out := make([]int, len(s.GetDim()))
	for i, d := range s.GetDim() {
		out[i] = int(d.GetSize())
	}
	return out
}

// ShapeProto converts a shape to a TensorShapeProto.
func ShapeProto(shape []int) *shapepb.TensorShapeProto {
	p := &shapepb.TensorShapeProto{Dim: make([]*shapepb.TensorShapeProto_Dim, len(shape))}
	for i, d := range shape {
		p.Dim[i] = &shapepb.TensorShapeProto_Dim{Size: int64(d)}
	}
	return p
}

// FromProto decodes a TensorProto (tensor_content or the typed repeated
// fields, including the splat form where one value fills the tensor).
func FromProto(p *tensorpb.TensorProto) (*Tensor, error) {
	dt, err := FromProtoDType(p.GetDtype())
	if err != nil {
		return nil, err
	}
	shape := ShapeFromProto(p.GetTensorShape())
	if shape == nil {
		shape = []int{}
	}
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("tensor proto has unknown dimension in shape %v", shape)
		}
	}
	if err := CheckShape(shape); err != nil {
		return nil, err
	}
	n := NumElements(shape)
	content := p.GetTensorContent()
	if len(content) > 0 {
		size := map[DType]int{Float32: 4, Float64: 8, Int32: 4, Int64: 8, Bool: 1, Uint8: 1}[dt]
		if size == 0 {
			return nil, fmt.Errorf("tensor_content not supported for %v", dt)
		}
		if len(content) != n*size {
			return nil, fmt.Errorf("tensor_content has %d bytes, shape %v of %v needs %d", len(content), shape, dt, n*size)
		}
		return FromBytes(dt, shape, content)
	}
	t := New(dt, shape...)
	fill := func(count int, get func(i int) float64) error {
		if count == 0 {
			return nil // all zeros
		}
		if count != 1 && count != n {
			return fmt.Errorf("tensor proto has %d values for shape %v", count, shape)
		}
		for i := range n {
			if count == 1 {
				t.SetFloat(i, get(0))
			} else {
				t.SetFloat(i, get(i))
			}
		}
		return nil
	}
	switch dt {
	case Float32:
		v := p.GetFloatVal()
		err = fill(len(v), func(i int) float64 { return float64(v[i]) })
	case Float64:
		v := p.GetDoubleVal()
		err = fill(len(v), func(i int) float64 { return v[i] })
	case Int32, Uint8:
		v := p.GetIntVal()
		err = fill(len(v), func(i int) float64 { return float64(v[i]) })
	case Int64:
		v := p.GetInt64Val()
		if len(v) == 1 || len(v) == n {
			for i := range n {
				t.I64[i] = v[min(i, len(v)-1)]
			}
		} else if len(v) != 0 {
			err = fmt.Errorf("tensor proto has %d values for shape %v", len(v), shape)
		}
	case Bool:
		v := p.GetBoolVal()
		err = fill(len(v), func(i int) float64 {
			if v[i] {
				return 1
			}
			return 0
		})
	case String:
		v := p.GetStringVal()
		if len(v) != n && !(len(v) == 1) && len(v) != 0 {
			return nil, fmt.Errorf("tensor proto has %d strings for shape %v", len(v), shape)
		}
		for i := range n {
			if len(v) > 0 {
				t.Str[i] = v[min(i, len(v)-1)]
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// FromBytes decodes little-endian raw element bytes (TensorFlow's
// tensor_content and tensor-bundle layout) into a tensor.
func FromBytes(dt DType, shape []int, b []byte) (*Tensor, error) {
	n := NumElements(shape)
	t := New(dt, shape...)
	switch dt {
	case Float32:
		if len(b) != 4*n {
			return nil, fmt.Errorf("%d bytes for %d float32 values", len(b), n)
		}
		for i := range n {
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case Float64:
		if len(b) != 8*n {
			return nil, fmt.Errorf("%d bytes for %d float64 values", len(b), n)
		}
		for i := range n {
			t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case Int32:
		if len(b) != 4*n {
			return nil, fmt.Errorf("%d bytes for %d int32 values", len(b), n)
		}
		for i := range n {
			t.I32[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case Int64:
		if len(b) != 8*n {
			return nil, fmt.Errorf("%d bytes for %d int64 values", len(b), n)
		}
		for i := range n {
			t.I64[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case Bool:
		if len(b) != n {
			return nil, fmt.Errorf("%d bytes for %d bool values", len(b), n)
		}
		for i := range n {
			t.B[i] = b[i] != 0
		}
	case Uint8:
		if len(b) != n {
			return nil, fmt.Errorf("%d bytes for %d uint8 values", len(b), n)
		}
		copy(t.U8, b)
	default:
		return nil, fmt.Errorf("raw bytes not supported for %v", dt)
	}
	return t, nil
}

// Proto encodes t as a TensorProto (tensor_content for numeric types).
func (t *Tensor) Proto() *tensorpb.TensorProto {
	p := &tensorpb.TensorProto{Dtype: ProtoDType(t.DType), TensorShape: ShapeProto(t.Shape)}
	n := t.Len()
	switch t.DType {
	case Float32:
		b := make([]byte, 4*n)
		for i, v := range t.F32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		p.TensorContent = b
	case Float64:
		b := make([]byte, 8*n)
		for i, v := range t.F64 {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
		p.TensorContent = b
	case Int32:
		b := make([]byte, 4*n)
		for i, v := range t.I32 {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		p.TensorContent = b
	case Int64:
		b := make([]byte, 8*n)
		for i, v := range t.I64 {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
		p.TensorContent = b
	case Bool:
		b := make([]byte, n)
		for i, v := range t.B {
			if v {
				b[i] = 1
			}
		}
		p.TensorContent = b
	case Uint8:
		p.TensorContent = append([]byte(nil), t.U8...)
	case String:
		p.StringVal = t.Str
	}
	return p
}
