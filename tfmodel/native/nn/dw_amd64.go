//go:build amd64 && !purego

package nn

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// haveDWKernel reports whether the AVX2 depthwise kernel can run here.
var haveDWKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dwPixelAVX2 computes one output pixel of a depthwise convolution with
// multiplier 1 over n channels (a multiple of 8) from taps input and
// filter rows, with the epilogue; see dwPixelGo.
//
//go:noescape
func dwPixelAVX2(n, taps int, xs, fs *unsafe.Pointer, mult, shift, out *float32, lo, hi float32)

// epiRowAVX2 applies an epilogue to n floats (a multiple of 8) of one
// output row: v[j] = min(max(v[j]·mult[j] + shift[j], lo), hi).
//
//go:noescape
func epiRowAVX2(n int, v, mult, shift *float32, lo, hi float32)
