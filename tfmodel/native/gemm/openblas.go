//go:build openblas

package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"github.com/tbviz/tbviz/tfmodel/native/gemm/internal/openblaslink"
	"github.com/tbviz/tbviz/tfmodel/native/parallel"
)

const blasBackend = "openblas"

// OpenBLAS through cgo (gonum.org/v1/netlib's CBLAS wrapper, linked with
// -lopenblas by package openblaslink so no extra environment is needed).
var (
	blas32Impl netlib.Implementation
	blas64Impl netlib.Implementation
)

func init() { openblaslink.SingleThreaded() }

// blasSgemm runs OpenBLAS single-threaded on blocks of C shared among the
// engine's workers: rows of C when there are enough, else columns.
func blasSgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const minRows, minCols = 32, 64
	if m >= 2*minRows || n < 2*minCols {
		parallel.For(m, minRows, func(lo, hi int) {
			ao := lo * lda
			if tA == blas.Trans {
				ao = lo
			}
			blas32Impl.Sgemm(tA, tB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		})
		return
	}
	parallel.For(n, minCols, func(lo, hi int) {
		bo := lo
		if tB == blas.Trans {
			bo = lo * ldb
		}
		blas32Impl.Sgemm(tA, tB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
	})
}
