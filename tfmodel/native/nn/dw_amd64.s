//go:build amd64 && !purego

#include "textflag.h"

// func dwPixelAVX2(n, taps int, xs, fs *unsafe.Pointer, mult, shift, out *float32, lo, hi float32)
//
// For c in [0, n) (n a multiple of 8):
// out[c] = min(max((Σ_t xs[t][c]·fs[t][c])·mult[c] + shift[c], lo), hi),
// NaN propagating. taps ≥ 1. Needs AVX2 and FMA3.
TEXT ·dwPixelAVX2(SB), NOSPLIT, $0-64
	MOVQ n+0(FP), CX
	MOVQ taps+8(FP), R8
	MOVQ xs+16(FP), R9
	MOVQ fs+24(FP), R10
	MOVQ mult+32(FP), R11
	MOVQ shift+40(FP), R12
	MOVQ out+48(FP), DI
	VBROADCASTSS lo+56(FP), Y14
	VBROADCASTSS hi+60(FP), Y15
	SHLQ $2, CX
	XORQ SI, SI
	MOVQ CX, R13
	SUBQ $128, R13 // last start of a 32-channel block
block32:
	CMPQ SI, R13
	JGT tail8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ DX, DX
taps32:
	MOVQ (R9)(DX*8), AX
	MOVQ (R10)(DX*8), BX
	ADDQ SI, AX
	ADDQ SI, BX
	VMOVUPS (AX), Y4
	VMOVUPS 32(AX), Y5
	VMOVUPS 64(AX), Y6
	VMOVUPS 96(AX), Y7
	VFMADD231PS (BX), Y4, Y0
	VFMADD231PS 32(BX), Y5, Y1
	VFMADD231PS 64(BX), Y6, Y2
	VFMADD231PS 96(BX), Y7, Y3
	INCQ DX
	CMPQ DX, R8
	JLT taps32
	VMOVUPS (R11)(SI*1), Y4
	VMOVUPS 32(R11)(SI*1), Y5
	VMOVUPS 64(R11)(SI*1), Y6
	VMOVUPS 96(R11)(SI*1), Y7
	VFMADD213PS (R12)(SI*1), Y4, Y0
	VFMADD213PS 32(R12)(SI*1), Y5, Y1
	VFMADD213PS 64(R12)(SI*1), Y6, Y2
	VFMADD213PS 96(R12)(SI*1), Y7, Y3
	VMAXPS Y0, Y14, Y0
	VMAXPS Y1, Y14, Y1
	VMAXPS Y2, Y14, Y2
	VMAXPS Y3, Y14, Y3
	VMINPS Y0, Y15, Y0
	VMINPS Y1, Y15, Y1
	VMINPS Y2, Y15, Y2
	VMINPS Y3, Y15, Y3
	VMOVUPS Y0, (DI)(SI*1)
	VMOVUPS Y1, 32(DI)(SI*1)
	VMOVUPS Y2, 64(DI)(SI*1)
	VMOVUPS Y3, 96(DI)(SI*1)
	ADDQ $128, SI
	JMP block32
tail8:
	CMPQ SI, CX
	JGE done
	VXORPS Y0, Y0, Y0
	XORQ DX, DX
taps8:
	MOVQ (R9)(DX*8), AX
	MOVQ (R10)(DX*8), BX
	VMOVUPS (AX)(SI*1), Y4
	VFMADD231PS (BX)(SI*1), Y4, Y0
	INCQ DX
	CMPQ DX, R8
	JLT taps8
	VMOVUPS (R11)(SI*1), Y4
	VFMADD213PS (R12)(SI*1), Y4, Y0
	VMAXPS Y0, Y14, Y0
	VMINPS Y0, Y15, Y0
	VMOVUPS Y0, (DI)(SI*1)
	ADDQ $32, SI
	JMP tail8
done:
	VZEROUPPER
	RET

// func epiRowAVX2(n int, v, mult, shift *float32, lo, hi float32)
//
// For j in [0, n) (n a multiple of 8):
// v[j] = min(max(v[j]·mult[j] + shift[j], lo), hi), NaN propagating.
TEXT ·epiRowAVX2(SB), NOSPLIT, $0-40
	MOVQ n+0(FP), CX
	MOVQ v+8(FP), DI
	MOVQ mult+16(FP), R11
	MOVQ shift+24(FP), R12
	VBROADCASTSS lo+32(FP), Y14
	VBROADCASTSS hi+36(FP), Y15
	SHLQ $2, CX
	XORQ SI, SI
epiloop:
	CMPQ SI, CX
	JGE epidone
	VMOVUPS (DI)(SI*1), Y0
	VMOVUPS (R11)(SI*1), Y4
	VFMADD213PS (R12)(SI*1), Y4, Y0
	VMAXPS Y0, Y14, Y0
	VMINPS Y0, Y15, Y0
	VMOVUPS Y0, (DI)(SI*1)
	ADDQ $32, SI
	JMP epiloop
epidone:
	VZEROUPPER
	RET
