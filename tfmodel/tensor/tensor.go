// Package tensor defines the dense, row-major tensor value that flows through
// tbviz's graph engines, with the conversions to and from TensorFlow's
// TensorProto.
//
// A Tensor is a plain struct: its data lives in exactly one of the typed
// slices, chosen by DType. Numeric kernels are written once for float32 and
// float64 (see Float); float32 is what models run in, float64 is what the
// gradient checks use.
package tensor

import (
	"fmt"
	"strings"
)

// DType is the element type of a Tensor.
type DType uint8

// The element types the engines understand.
const (
	Invalid DType = iota
	Float32
	Float64
	Int32
	Int64
	Bool
	String
	Uint8
)

var dtypeNames = [...]string{"invalid", "float32", "float64", "int32", "int64", "bool", "string", "uint8"}

// String returns the lower-case name of the type, as numpy spells it.
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 }

// IsInt reports whether d is an integer type.
func (d DType) IsInt() bool { return d == Int32 || d == Int64 || d == Uint8 }

// Float is the set of element types the numeric kernels are generic over.
type Float interface{ ~float32 | ~float64 }

// MaxElements bounds the size of any tensor built from untrusted input
// (shapes in model files, image sizes): 2^31 elements.
const MaxElements = 1 << 31

// Tensor is a dense row-major tensor. Exactly one data slice is non-nil (or
// all are nil for a zero-element tensor), the one matching DType, and its
// length equals the product of Shape. A scalar has an empty Shape.
type Tensor struct {
	DType DType
	Shape []int
	F32   []float32
	F64   []float64
	I32   []int32
	I64   []int64
	B     []bool
	Str   [][]byte
	U8    []uint8
}

// NumElements returns the product of the dimensions of shape (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// CheckShape returns an error if shape has a negative dimension or more than
// MaxElements elements; it never overflows.
func CheckShape(shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v: negative dimension", shape)
		}
		if d == 0 {
			return nil
		}
		if n > MaxElements/d {
			return fmt.Errorf("shape %v: more than %d elements", shape, MaxElements)
		}
		n *= d
	}
	return nil
}

// New returns a zero-filled tensor of the given type and shape. It panics on
// a negative dimension; callers validate untrusted shapes with CheckShape.
func New(dt DType, shape ...int) *Tensor {
	n := NumElements(shape)
	t := &Tensor{DType: dt, Shape: append([]int(nil), shape...)}
	switch dt {
	case Float32:
		t.F32 = make([]float32, n)
	case Float64:
		t.F64 = make([]float64, n)
	case Int32:
		t.I32 = make([]int32, n)
	case Int64:
		t.I64 = make([]int64, n)
	case Bool:
		t.B = make([]bool, n)
	case String:
		t.Str = make([][]byte, n)
	case Uint8:
		t.U8 = make([]uint8, n)
	default:
		panic(fmt.Sprintf("tensor.New: unsupported dtype %v", dt))
	}
	return t
}

// NewLike returns a zero-filled tensor with t's type and shape.
func NewLike(t *Tensor) *Tensor { return New(t.DType, t.Shape...) }

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
func FromFloat32(data []float32, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("tensor.FromFloat32: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Float32, Shape: append([]int(nil), shape...), F32: data}
}

// FromFloat64 wraps data (not copied) as a float64 tensor of the given shape.
func FromFloat64(data []float64, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("tensor.FromFloat64: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Float64, Shape: append([]int(nil), shape...), F64: data}
}

// FromInt32 wraps data (not copied) as an int32 tensor of the given shape.
func FromInt32(data []int32, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("tensor.FromInt32: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Int32, Shape: append([]int(nil), shape...), I32: data}
}

// Scalar returns a rank-0 tensor of type dt holding v.
func Scalar(dt DType, v float64) *Tensor {
	t := New(dt)
	t.SetFloat(0, v)
	return t
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Dim returns dimension i, counting from the end when i is negative.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	return t.Shape[i]
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	switch t.DType {
	case Float32:
		c.F32 = append([]float32(nil), t.F32...)
	case Float64:
		c.F64 = append([]float64(nil), t.F64...)
	case Int32:
		c.I32 = append([]int32(nil), t.I32...)
	case Int64:
		c.I64 = append([]int64(nil), t.I64...)
	case Bool:
		c.B = append([]bool(nil), t.B...)
	case String:
		c.Str = make([][]byte, len(t.Str))
		for i, s := range t.Str {
			c.Str[i] = append([]byte(nil), s...)
		}
	case Uint8:
		c.U8 = append([]uint8(nil), t.U8...)
	}
	return c
}

// Reshaped returns a tensor sharing t's data with a new shape of the same
// number of elements.
func (t *Tensor) Reshaped(shape ...int) (*Tensor, error) {
	if NumElements(shape) != t.Len() {
		return nil, fmt.Errorf("reshape %v (%d elements) to %v (%d elements)", t.Shape, t.Len(), shape, NumElements(shape))
	}
	c := *t
	c.Shape = append([]int(nil), shape...)
	return &c, nil
}

// Float returns element i (flat index) converted to float64. Strings read as 0.
func (t *Tensor) Float(i int) float64 {
	switch t.DType {
	case Float32:
		return float64(t.F32[i])
	case Float64:
		return t.F64[i]
	case Int32:
		return float64(t.I32[i])
	case Int64:
		return float64(t.I64[i])
	case Uint8:
		return float64(t.U8[i])
	case Bool:
		if t.B[i] {
			return 1
		}
	}
	return 0
}

// SetFloat stores v (converted) at flat index i. Strings are left unchanged.
func (t *Tensor) SetFloat(i int, v float64) {
	switch t.DType {
	case Float32:
		t.F32[i] = float32(v)
	case Float64:
		t.F64[i] = v
	case Int32:
		t.I32[i] = int32(v)
	case Int64:
		t.I64[i] = int64(v)
	case Uint8:
		t.U8[i] = uint8(v)
	case Bool:
		t.B[i] = v != 0
	}
}

// Float64s returns all elements converted to float64 (a new slice).
func (t *Tensor) Float64s() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float(i)
	}
	return out
}

// Ints returns the elements of an integer tensor as ints, for shape
// plumbing (Reshape's shape, axes, paddings). Float tensors are an error.
func (t *Tensor) Ints() ([]int, error) {
	if !t.DType.IsInt() {
		return nil, fmt.Errorf("expected an integer tensor, got %v", t.DType)
	}
	out := make([]int, t.Len())
	for i := range out {
		out[i] = int(t.Float(i))
	}
	return out, nil
}

// Cast returns t converted to dt (t itself when it already has that type).
func (t *Tensor) Cast(dt DType) (*Tensor, error) {
	if t.DType == dt {
		return t, nil
	}
	if t.DType == String || dt == String {
		return nil, fmt.Errorf("cannot cast %v to %v", t.DType, dt)
	}
	c := New(dt, t.Shape...)
	switch {
	case t.DType == Float32 && dt == Float64:
		for i, v := range t.F32 {
			c.F64[i] = float64(v)
		}
	case t.DType == Float64 && dt == Float32:
		for i, v := range t.F64 {
			c.F32[i] = float32(v)
		}
	default:
		for i := range t.Len() {
			c.SetFloat(i, t.Float(i))
		}
	}
	return c, nil
}

// Data returns t's float slice of type T. It panics if t does not hold T;
// kernels call it after dispatching on DType.
func Data[T Float](t *Tensor) []T {
	var z T
	switch any(z).(type) {
	case float32:
		if t.DType != Float32 {
			panic(fmt.Sprintf("tensor.Data[float32] on %v tensor", t.DType))
		}
		return any(t.F32).([]T)
	default:
		if t.DType != Float64 {
			panic(fmt.Sprintf("tensor.Data[float64] on %v tensor", t.DType))
		}
		return any(t.F64).([]T)
	}
}

// DTypeOf returns the DType for the Go type T.
func DTypeOf[T Float]() DType {
	var z T
	if _, ok := any(z).(float32); ok {
		return Float32
	}
	return Float64
}

// NewFloat returns a zero tensor of element type T.
func NewFloat[T Float](shape ...int) *Tensor { return New(DTypeOf[T](), shape...) }

// ShapeString formats a shape as TensorFlow prints it, e.g. "(?, 28, 28, 1)";
// negative dimensions print as "?".
func ShapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		if d < 0 {
			b.WriteByte('?')
		} else {
			fmt.Fprint(&b, d)
		}
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// SameShape reports whether a and b are equal shapes.
func SameShape(a, b []int) bool {
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

// String summarises t (type, shape and the first few values).
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v%v[", t.DType, ShapeString(t.Shape))
	n := min(t.Len(), 8)
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.DType == String {
			fmt.Fprintf(&b, "%q", t.Str[i])
		} else {
			fmt.Fprintf(&b, "%g", t.Float(i))
		}
	}
	if t.Len() > n {
		b.WriteString(" ...")
	}
	b.WriteByte(']')
	return b.String()
}
