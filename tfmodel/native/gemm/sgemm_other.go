//go:build !amd64 || purego

package gemm

import "unsafe"

// haveKernel is false: without the assembly micro-kernel the BLAS is
// faster than the portable kernel, which only the tests use.
var haveKernel = false

func kern6x16(k int, a, b, c *float32, ldc int, acc int) {
	kern6x16Go(k, a, b, c, ldc, acc)
}

func kern6x16U(k int, a *float32, lda int, b, c *float32, ldc int, acc int) {
	kern6x16UGo(k, a, lda, b, c, ldc, acc)
}

// kern6x16UGo is the portable kern6x16U: kern6x16Go with a[i·lda+p]
// in place of the packed a[6p+i].
func kern6x16UGo(k int, a *float32, lda int, b, c *float32, ldc int, acc int) {
	as := unsafe.Slice(a, (mr-1)*lda+k)
	p := make([]float32, k*mr)
	for i := range mr {
		for q := range k {
			p[q*mr+i] = as[i*lda+q]
		}
	}
	kern6x16Go(k, &p[0], b, c, ldc, acc)
}
