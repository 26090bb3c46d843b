// Package mathops registers the native engine's arithmetic kernels:
// element-wise binary ops with NumPy/TensorFlow broadcasting (AddV2, Add,
// Sub, Mul, RealDiv, Div, Maximum, Minimum, SquaredDifference, Pow),
// element-wise unary ops (Rsqrt, Sqrt, Square, Neg, Exp, Log, Abs,
// Reciprocal, Inv), AddN, the reductions Mean, Sum, Max, Min and Prod,
// MatMul and BatchMatMulV2 (gonum BLAS), and Cast.
//
// Every numeric kernel runs in float32 and float64 and has a backward
// function; binary ops sum their gradients over broadcast axes. Max and Min
// split the gradient evenly between tied extrema, as TensorFlow's
// _MinOrMaxGrad does.
//
// Importing the package registers the kernels (see package kernel).
package mathops
