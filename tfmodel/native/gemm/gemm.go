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
// FMA), "gonum" (pure Go elsewhere) or "openblas" (build tag openblas;
// products with k ≤ 64 still run on the micro-kernel where it exists, see
// openblasKernelMaxK).
func Backend() string {
	if useKernel {
		return "go-avx2"
	}
	return blasBackend
}

// useKernel routes float32 products to sgemm.
var useKernel = haveKernel && blasBackend == "gonum"

// openblasKernelMaxK is the deepest product that the openblas build still
// gives to sgemm: on MobileNetV2's shapes (BenchmarkSgemm -tags openblas)
// the micro-kernel wins up to k = 64 (expand convolutions) and OpenBLAS
// from k = 160 (project convolutions); routing so cut the forward pass by
// 7–12 % (BenchmarkForward, benchstat).
const openblasKernelMaxK = 64

// kernelFor reports whether a float32 product of inner dimension k runs on
// sgemm.
func kernelFor(k int) bool {
	return useKernel || (haveKernel && blasBackend == "openblas" && k <= openblasKernelMaxK)
}

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
		if kernelFor(k) {
			sgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc, nil)
			return
		}
		blasSgemm(blasTrans(transA), blasTrans(transB), m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc)
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

// GemmEpilogue is Gemm followed by epi, which is called on rectangles of c
// (rows [i0, i1), columns [j0, j1)) that together tile the m×n result
// once each. With the package's own float32 GEMM, each rectangle is passed
// as soon as it is final, while it is still in cache, and calls may run
// concurrently on disjoint rectangles; otherwise epi gets the whole result
// in one call.
func GemmEpilogue[T tensor.Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int, epi func(i0, i1, j0, j1 int)) {
	if m == 0 || n == 0 {
		return
	}
	if cc, ok := any(c).([]float32); ok && k > 0 && kernelFor(k) {
		sgemm(transA, transB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), cc, ldc, epi)
		return
	}
	Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	epi(0, m, 0, n)
}
