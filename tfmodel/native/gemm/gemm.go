// Package gemm is the native engine's one matrix-multiply backend, shared
// by the convolution kernels (package nn) and MatMul (package mathops):
// C = alpha·op(A)·op(B) + beta·C on row-major matrices, op(X) = Xᵀ when the
// trans flag is set; A is m×k after op, B is k×n, C is m×n.
//
// The default backend is pure Go: float32 products run on this package's
// own packed GEMM with an AVX2/FMA assembly micro-kernel where the CPU has
// one (amd64; build tag purego turns it off), everything else on gonum's
// BLAS. The build tag openblas switches to OpenBLAS through cgo
// (gonum.org/v1/netlib).
package gemm

import (
	"gonum.org/v1/gonum/blas"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Backend returns the name of the float32 GEMM in use: "go-avx2" (pure
// Go with the assembly micro-kernel, the default on amd64 with AVX2 and
// FMA), "gonum" (pure Go elsewhere) or "openblas" (build tag openblas).
func Backend() string {
	if useKernel {
		return "go-avx2"
	}
	return blasBackend
}

// useKernel routes float32 products to sgemm.
var useKernel = haveKernel && blasBackend == "gonum"

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c in float32 or float64.
func Gemm[T tensor.Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	switch cc := any(c).(type) {
	case []float32:
		if useKernel {
			sgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
			return
		}
		blas32Impl.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
	case []float64:
		blas64Impl.Dgemm(blasTrans(transA), blasTrans(transB), m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), cc, ldc)
	}
}

// scale sets c = beta·c for an empty inner dimension.
func scale[T tensor.Float](m, n int, beta T, c []T, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
