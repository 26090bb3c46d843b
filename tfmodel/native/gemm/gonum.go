//go:build !openblas

package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

const blasBackend = "gonum"

// gonum's pure-Go BLAS (whatever blas32/blas64 are configured to use; by
// default gonum.org/v1/gonum/blas/gonum, which runs large products on all
// of GOMAXPROCS).
var (
	blas32Impl = blas32.Implementation()
	blas64Impl = blas64.Implementation()
)

// blasSgemm is gonum's Sgemm (which parallelises large products itself).
func blasSgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blas32Impl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
