package nn

import (
	"gonum.org/v1/gonum/blas"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// The GEMM backend: C = alpha·op(A)·op(B) + beta·C on row-major matrices,
// op(X) = Xᵀ when the trans flag is set. A is m×k after op, B is k×n, C is
// m×n. blas32Impl and blas64Impl are set by gemm_gonum.go (default, pure
// Go) or gemm_openblas.go (build tag openblas, cgo).

// Backend returns the name of the BLAS library behind the convolution and
// matrix-multiply kernels: "gonum" (pure Go, the default) or "openblas"
// (build tag openblas).
func Backend() string { return blasBackend }

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm32 computes c = alpha·op(a)·op(b) + beta·c in float32.
func gemm32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		gemmScale(m, n, beta, c, ldc)
		return
	}
	blas32Impl.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm64 is gemm32 in float64.
func gemm64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		gemmScale(m, n, beta, c, ldc)
		return
	}
	blas64Impl.Dgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmScale sets c = beta·c for an empty inner dimension.
func gemmScale[T tensor.Float](m, n int, beta T, c []T, ldc int) {
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

// gemm dispatches to gemm32 or gemm64 on T.
func gemm[T tensor.Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch cc := any(c).(type) {
	case []float32:
		gemm32(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
	case []float64:
		gemm64(transA, transB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), cc, ldc)
	}
}
