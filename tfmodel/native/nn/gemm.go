package nn

import (
	"github.com/tbviz/tbviz/tfmodel/native/gemm"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Backend returns the name of the BLAS library behind the convolution and
// matrix-multiply kernels: "gonum" (pure Go, the default) or "openblas"
// (build tag openblas). See package gemm.
func Backend() string { return gemm.Backend() }

// gemm32 computes c = alpha·op(a)·op(b) + beta·c in float32.
func gemm32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm64 is gemm32 in float64.
func gemm64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// nnGemm is gemm.Gemm, under the name the kernels of this package use.
func nnGemm[T tensor.Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// nnGemmEpi is gemm.GemmEpilogue.
func nnGemmEpi[T tensor.Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, epi func(i0, i1, j0, j1 int)) {
	gemm.GemmEpilogue(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epi)
}
