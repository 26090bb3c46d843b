//go:build !amd64 || purego || openblas

package gemm

// haveKernel is false: without the assembly micro-kernel (or with
// OpenBLAS, whose cgo package cannot hold Go assembly), the BLAS
// is faster than the portable kernel, which only the tests use.
var haveKernel = false

func kern6x16(k int, a, b, c *float32, ldc int, acc int) {
	kern6x16Go(k, a, b, c, ldc, acc)
}
