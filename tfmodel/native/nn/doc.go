// Package nn holds the native engine's neural-network kernels: 2-D
// convolution (Conv2D, via im2col and a BLAS GEMM), depthwise convolution,
// BiasAdd, the activations (Relu, Relu6, Elu, Selu, LeakyRelu, Prelu,
// Sigmoid, Tanh, Softplus), the grappler / TF.js fused forms
// (_FusedConv2D, _FusedDepthwiseConv2dNative, FusedDepthwiseConv2dNative,
// _FusedMatMul), pooling, batch normalisation and softmax, each with its
// backward function. Kernels register themselves with package kernel in
// init functions; importing this package for its side effects links them.
//
// All image tensors are NHWC; filters are HWIO ([height, width, in, out])
// for Conv2D and [height, width, in, multiplier] for the depthwise ops.
// Every kernel handles float32 (what models run in) and float64 (what the
// gradient checks use), with the math written once over tensor.Float.
//
// The GEMM behind the convolutions is gonum's pure-Go BLAS by default;
// building with the tag openblas links OpenBLAS through cgo instead
// (Debian package libopenblas-dev). Backend reports which one is linked.
package nn
