package tfjs_test

import (
	"fmt"
	"log"

	"github.com/tbviz/tbviz/tfmodel/tfjs"
)

// Load a TF.js graph-model directory and list what it computes. (Not run:
// it needs a model on disk, e.g. from `make graphmodels`.)
func Example() {
	gd, info, err := tfjs.Load(".deps/graphmodels/nsfwjs-mobilenetv2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(gd.GetNode()), "nodes, converted by", info.ConvertedBy)
	fmt.Println("inputs:", info.InputNames, "outputs:", info.OutputNames)
}

// TF.js stores float16-quantized weights as IEEE half floats.
func ExampleFloat16() {
	fmt.Println(tfjs.Float16(0x3c00), tfjs.Float16(0xc000), tfjs.Float16(0x0001), tfjs.Float16(0x7c00))
	// Output: 1 -2 5.9604645e-08 +Inf
}

// uint8/uint16 quantization is affine: v*scale + min.
func ExampleDequantize() {
	v, err := tfjs.Dequantize("uint8", []byte{0, 1, 255}, 0.5, -1)
	fmt.Println(v, err)
	// Output: [-1 -0.5 126.5] <nil>
}
