package nn

import (
	"fmt"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
)

// TestGEMMBackend checks the linked BLAS (gonum, or OpenBLAS with the tag
// openblas) against naive loops for every transpose combination, with
// leading dimensions larger than the rows, beta accumulation and an empty
// inner dimension.
func TestGEMMBackend(t *testing.T) {
	if b := Backend(); b != "gonum" && b != "openblas" && b != "go-avx2" {
		t.Fatalf("Backend() = %q", b)
	}
	for _, k := range []int{0, 1, 7, 70} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := tr[0], tr[1]
			t.Run(fmt.Sprintf("k%d_ta%v_tb%v", k, ta, tb), func(t *testing.T) {
				const m, n, pad = 9, 11, 3
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				lda, ldb, ldc := ac+pad, bc+pad, n+pad
				a := kerneltest.Rand(1, -1, 1, ar*lda+1).F64
				b := kerneltest.Rand(2, -1, 1, br*ldb+1).F64
				c0 := kerneltest.Rand(3, -1, 1, m*ldc).F64
				want := append([]float64(nil), c0...)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var s float64
						for p := 0; p < k; p++ {
							var av, bv float64
							if ta {
								av = a[p*lda+i]
							} else {
								av = a[i*lda+p]
							}
							if tb {
								bv = b[j*ldb+p]
							} else {
								bv = b[p*ldb+j]
							}
							s += av * bv
						}
						want[i*ldc+j] = 0.5*s + 2*c0[i*ldc+j]
					}
				}
				c := append([]float64(nil), c0...)
				gemm64(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 2, c, ldc)
				cvAssertClose(t, "gemm64", c, want, 1e-12)
				a32, b32, c32 := make([]float32, len(a)), make([]float32, len(b)), make([]float32, len(c0))
				for i := range a {
					a32[i] = float32(a[i])
				}
				for i := range b {
					b32[i] = float32(b[i])
				}
				for i := range c0 {
					c32[i] = float32(c0[i])
				}
				gemm32(ta, tb, m, n, k, 0.5, a32, lda, b32, ldb, 2, c32, ldc)
				got := make([]float64, len(c32))
				for i, v := range c32 {
					got[i] = float64(v)
				}
				cvAssertClose(t, "gemm32", got, want, 1e-5)
			})
		}
	}
}
