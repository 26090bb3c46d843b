package mathops

import (
	"github.com/tbviz/tbviz/tfmodel/native/array/strided"
	"github.com/tbviz/tbviz/tfmodel/native/gemm"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("MatMul", kernel.Def{
		Forward:  matMulForward("transpose_a", "transpose_b", false),
		Backward: matMulBackward("transpose_a", "transpose_b", false),
	})
	kernel.Register("BatchMatMulV2", kernel.Def{
		Forward:  matMulForward("adj_x", "adj_y", true),
		Backward: matMulBackward("adj_x", "adj_y", true),
	})
	kernel.Register("BatchMatMul", kernel.Def{
		Forward:  matMulForward("adj_x", "adj_y", true),
		Backward: matMulBackward("adj_x", "adj_y", true),
	})
}

func matMulFlags(c *kernel.Context, fa, fb string) (bool, bool, error) {
	ta, err := boolAttr(c.Node, fa, false)
	if err != nil {
		return false, false, c.Errorf("%v", err)
	}
	tb, err := boolAttr(c.Node, fb, false)
	if err != nil {
		return false, false, c.Errorf("%v", err)
	}
	return ta, tb, nil
}

func matMulForward(fa, fb string, batched bool) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		if err := checkInputs(c, in, 2); err != nil {
			return nil, err
		}
		ta, tb, err := matMulFlags(c, fa, fb)
		if err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if a.DType != b.DType {
			return nil, c.Errorf("operands have different types %v and %v", a.DType, b.DType)
		}
		if err := checkFloat(c, a, "operand"); err != nil {
			return nil, err
		}
		if !batched && (a.Rank() != 2 || b.Rank() != 2) {
			return nil, c.Errorf("MatMul needs rank-2 operands, got %s and %s", tensor.ShapeString(a.Shape), tensor.ShapeString(b.Shape))
		}
		z, err := batchMatMul(a, b, ta, tb)
		if err != nil {
			return nil, c.Errorf("%v", err)
		}
		return []*tensor.Tensor{z}, nil
	}
}

// batchMatMul multiplies the matrices in the last two dimensions of a and
// b (transposed as asked), broadcasting the leading (batch) dimensions.
func batchMatMul(a, b *tensor.Tensor, ta, tb bool) (*tensor.Tensor, error) {
	if a.Rank() < 2 || b.Rank() < 2 {
		return nil, errorf("matrix multiply needs operands of rank >= 2, got %s and %s", tensor.ShapeString(a.Shape), tensor.ShapeString(b.Shape))
	}
	ar, br := a.Rank(), b.Rank()
	m, k := a.Shape[ar-2], a.Shape[ar-1]
	if ta {
		m, k = k, m
	}
	k2, n := b.Shape[br-2], b.Shape[br-1]
	if tb {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, errorf("matrix multiply: inner dimensions differ: %s (transposed %v) times %s (transposed %v)",
			tensor.ShapeString(a.Shape), ta, tensor.ShapeString(b.Shape), tb)
	}
	batch, err := BroadcastShape(a.Shape[:ar-2], b.Shape[:br-2])
	if err != nil {
		return nil, err
	}
	shape := append(append([]int(nil), batch...), m, n)
	if err := tensor.CheckShape(shape); err != nil {
		return nil, err
	}
	z := tensor.New(a.DType, shape...)
	tabA, _ := strided.BroadcastTables(a.Shape[:ar-2], batch)
	tabB, _ := strided.BroadcastTables(b.Shape[:br-2], batch)
	offA := batchOffsets(batch, tabA, a.Shape[ar-2]*a.Shape[ar-1])
	offB := batchOffsets(batch, tabB, b.Shape[br-2]*b.Shape[br-1])
	for i := range offA {
		if a.DType == tensor.Float32 {
			gemm32(z.F32[i*m*n:(i+1)*m*n], a.F32[offA[i]:], b.F32[offB[i]:], m, n, k, a.Shape[ar-1], b.Shape[br-1], ta, tb)
		} else {
			gemm64(z.F64[i*m*n:(i+1)*m*n], a.F64[offA[i]:], b.F64[offB[i]:], m, n, k, a.Shape[ar-1], b.Shape[br-1], ta, tb)
		}
	}
	return z, nil
}

// batchOffsets returns, for each batch index of shape batch, the offset of
// that batch's matrix (of msize elements) in an operand read through
// tables (its batch dimensions broadcast to batch).
func batchOffsets(batch []int, tables [][]int, msize int) []int {
	out := make([]int, tensor.NumElements(batch))
	idx := make([]int, len(batch))
	for i := range out {
		off := 0
		for d, j := range idx {
			off += tables[d][j]
		}
		out[i] = off * msize
		for d := len(batch) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// gemm32 computes z = op(a)·op(b) for one matrix of a batch, through the
// engine's shared GEMM backend (package gemm, OpenBLAS under -tags openblas).
func gemm32(z, a, b []float32, m, n, k, lda, ldb int, ta, tb bool) {
	gemm.Gemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, z, n)
}

// gemm64 is gemm32 in float64.
func gemm64(z, a, b []float64, m, n, k, lda, ldb int, ta, tb bool) {
	gemm.Gemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, z, n)
}

func matMulBackward(fa, fb string, batched bool) kernel.BackwardFunc {
	return func(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
		g := dout[0]
		if g == nil {
			return []*tensor.Tensor{nil, nil}, nil
		}
		ta, tb, err := matMulFlags(c, fa, fb)
		if err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		var da, db *tensor.Tensor
		switch {
		case !ta && !tb:
			da, err = batchMatMul(g, b, false, true)
			if err == nil {
				db, err = batchMatMul(a, g, true, false)
			}
		case !ta && tb:
			da, err = batchMatMul(g, b, false, false)
			if err == nil {
				db, err = batchMatMul(g, a, true, false)
			}
		case ta && !tb:
			da, err = batchMatMul(b, g, false, true)
			if err == nil {
				db, err = batchMatMul(a, g, false, false)
			}
		default:
			da, err = batchMatMul(b, g, true, true)
			if err == nil {
				db, err = batchMatMul(g, a, true, true)
			}
		}
		if err != nil {
			return nil, c.Errorf("gradient: %v", err)
		}
		if batched {
			// Sum over broadcast batch dimensions.
			if da, err = SumToShape(da, a.Shape); err == nil {
				db, err = SumToShape(db, b.Shape)
			}
			if err != nil {
				return nil, c.Errorf("gradient: %v", err)
			}
		}
		return []*tensor.Tensor{da, db}, nil
	}
}
