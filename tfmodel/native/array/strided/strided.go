// Package strided implements the index arithmetic shared by the native
// engine's shape and arithmetic kernels: gathering a tensor through
// per-dimension offset tables (which expresses transposition, slicing,
// padding, mirroring, tiling and broadcasting alike) and the matching
// scatter-reductions (which express broadcast-gradient sums and axis
// reductions).
//
// A table set for an output shape S and a source tensor X has one table per
// dimension d of S, of length S[d]; entry tables[d][i] is the offset into
// X's flat data contributed by index i along d, or -1 when index i lies
// outside X (a padding position). The source offset of an output element is
// the sum of its entries.
package strided

import (
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Strides returns the row-major strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// BroadcastTables returns the tables that read a tensor of shape in as if
// broadcast to shape out, with NumPy alignment (trailing dimensions match;
// a dimension of 1 repeats). It is an error if in does not broadcast to out.
func BroadcastTables(in, out []int) ([][]int, error) {
	if len(in) > len(out) {
		return nil, fmt.Errorf("cannot broadcast shape %v to %v: higher rank", in, out)
	}
	st := Strides(in)
	off := len(out) - len(in)
	tables := make([][]int, len(out))
	for d := range out {
		t := make([]int, out[d])
		if k := d - off; k >= 0 {
			switch in[k] {
			case out[d]:
				for i := range t {
					t[i] = i * st[k]
				}
			case 1:
				// all zero
			default:
				return nil, fmt.Errorf("cannot broadcast shape %v to %v: dimension %d is %d, want %d or 1", in, out, k, in[k], out[d])
			}
		}
		tables[d] = t
	}
	return tables, nil
}

// PermuteTables returns the tables that read a tensor of shape in
// transposed by perm (output dimension d is input dimension perm[d]).
// perm must be a valid permutation.
func PermuteTables(in []int, perm []int) [][]int {
	st := Strides(in)
	tables := make([][]int, len(perm))
	for d, p := range perm {
		t := make([]int, in[p])
		for i := range t {
			t[i] = i * st[p]
		}
		tables[d] = t
	}
	return tables
}

// Gather returns a tensor of shape out (x's dtype) whose elements are read
// from x through tables; positions whose table entry is -1 get fill. The
// tables must index inside x.
func Gather(x *tensor.Tensor, out []int, tables [][]int, fill float64) *tensor.Tensor {
	y := tensor.New(x.DType, out...)
	switch x.DType {
	case tensor.Float32:
		gather(y.F32, x.F32, out, tables, float32(fill))
	case tensor.Float64:
		gather(y.F64, x.F64, out, tables, fill)
	case tensor.Int32:
		gather(y.I32, x.I32, out, tables, int32(fill))
	case tensor.Int64:
		gather(y.I64, x.I64, out, tables, int64(fill))
	case tensor.Uint8:
		gather(y.U8, x.U8, out, tables, uint8(fill))
	case tensor.Bool:
		gather(y.B, x.B, out, tables, fill != 0)
	case tensor.String:
		gather(y.Str, x.Str, out, tables, nil)
	}
	return y
}

// Permute returns x transposed by perm.
func Permute(x *tensor.Tensor, perm []int) *tensor.Tensor {
	out := make([]int, len(perm))
	for d, p := range perm {
		out[d] = x.Shape[p]
	}
	return Gather(x, out, PermuteTables(x.Shape, perm), 0)
}

// rows calls f for each innermost row of shape: o is the flat offset of the
// row's first element, base the sum of the outer tables' entries (or -1 if
// one of them is -1), inner the innermost table.
func rows(shape []int, tables [][]int, f func(o, base int, inner []int)) {
	r := len(shape)
	if r == 0 {
		f(0, 0, []int{0})
		return
	}
	if tensor.NumElements(shape) == 0 {
		return
	}
	idx := make([]int, r-1)
	n := shape[r-1]
	inner := tables[r-1]
	total := tensor.NumElements(shape)
	for o := 0; o < total; o += n {
		base := 0
		for d, i := range idx {
			t := tables[d][i]
			if t < 0 {
				base = -1
				break
			}
			base += t
		}
		f(o, base, inner)
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func gather[E any](dst, src []E, shape []int, tables [][]int, fill E) {
	rows(shape, tables, func(o, base int, inner []int) {
		row := dst[o : o+len(inner)]
		if base < 0 {
			for j := range row {
				row[j] = fill
			}
			return
		}
		for j, t := range inner {
			if t < 0 {
				row[j] = fill
			} else {
				row[j] = src[base+t]
			}
		}
	})
}

// Op is a scatter-reduction.
type Op uint8

// The scatter-reductions.
const (
	Sum Op = iota
	Max
	Min
	Prod
)

// Scatter combines each element of src (shape src.Shape) into dst at the
// offset given by tables (one table per dimension of src), with op. Entries
// of -1 are skipped. dst and src must be float tensors of the same dtype;
// dst must already hold the reduction's initial values.
func Scatter(dst, src *tensor.Tensor, tables [][]int, op Op) {
	switch src.DType {
	case tensor.Float32:
		scatter(dst.F32, src.F32, src.Shape, tables, op)
	case tensor.Float64:
		scatter(dst.F64, src.F64, src.Shape, tables, op)
	default:
		panic(fmt.Sprintf("strided.Scatter: %v tensor", src.DType))
	}
}

func scatter[T tensor.Float](dst, src []T, shape []int, tables [][]int, op Op) {
	rows(shape, tables, func(o, base int, inner []int) {
		if base < 0 {
			return
		}
		row := src[o : o+len(inner)]
		switch op {
		case Sum:
			for j, t := range inner {
				if t >= 0 {
					dst[base+t] += row[j]
				}
			}
		case Max:
			for j, t := range inner {
				if t >= 0 && row[j] > dst[base+t] {
					dst[base+t] = row[j]
				}
			}
		case Min:
			for j, t := range inner {
				if t >= 0 && row[j] < dst[base+t] {
					dst[base+t] = row[j]
				}
			}
		case Prod:
			for j, t := range inner {
				if t >= 0 {
					dst[base+t] *= row[j]
				}
			}
		}
	})
}
