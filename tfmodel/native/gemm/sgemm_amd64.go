//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// haveKernel reports whether the assembly micro-kernel can run here.
var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kern6x16 is the AVX2/FMA micro-kernel (sgemm_amd64.s); see kern6x16Go
// for its contract.
//
//go:noescape
func kern6x16(k int, a, b, c *float32, ldc int, acc int)

// kern6x16U is kern6x16 reading A in place (6 rows lda elements apart)
// instead of from a packed panel; see kern6x16UGo.
//
//go:noescape
func kern6x16U(k int, a *float32, lda int, b, c *float32, ldc int, acc int)
