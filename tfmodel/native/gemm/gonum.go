//go:build !openblas

package gemm

import (
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
