//go:build !amd64 || purego

package nn

import "unsafe"

// haveDWKernel is false without the assembly kernel.
var haveDWKernel = false

func dwPixelAVX2(n, taps int, xs, fs *unsafe.Pointer, mult, shift, out *float32, lo, hi float32) {
	panic("nn: dwPixelAVX2 without the assembly kernel")
}

func epiRowAVX2(n int, v, mult, shift *float32, lo, hi float32) {
	panic("nn: epiRowAVX2 without the assembly kernel")
}
