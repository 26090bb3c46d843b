//go:build openblas

package gemm

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
)

const blasBackend = "openblas"

// OpenBLAS through cgo (gonum.org/v1/netlib's CBLAS wrapper, linked with
// -lopenblas above so no extra environment is needed).
var (
	blas32Impl netlib.Implementation
	blas64Impl netlib.Implementation
)
