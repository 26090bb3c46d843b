// Package tfengine runs tbviz's graphs on TensorFlow's own runtime through
// the TensorFlow C API (github.com/wamuir/graft/tensorflow, TensorFlow
// 2.18). The engine itself (Engine, New, Version, ListDevices) is compiled
// only with the build tag "tensorflow" and links libtensorflow; see
// README.md in this directory for installing libtensorflow (CPU or GPU) and
// running its tests.
//
// What TensorFlow is given is the graph tfmodel builds, not the SavedModel:
// the function bodies inlined and the variables bound from the checkpoint,
// so every intermediate tensor (a Grad-CAM layer inside a Keras function)
// can be fed and fetched by its tbviz name. Lower turns a graph.Graph into
// a GraphDef for TensorFlow's importer: variables become Consts, the fused
// ops of TF.js graph-models (_FusedConv2D, FusedDepthwiseConv2dNative,
// _FusedMatMul) are split into their standard ops (TensorFlow has no
// gradient for them and no kernel at all for the TF.js ones), IdentityN
// nodes are split into Identity nodes (TensorFlow's C++ gradient registry
// has no IdentityN gradient), fed tensors can be cut into Placeholders,
// and every node can be pinned to a device.
//
// Gradients come from Graph.AddGradients, i.e. TensorFlow's C++ gradient
// registry. Guided backpropagation and the deconvnet rule cannot be
// registered as gradient functions through the C API, so the engine
// rewrites the gradient subgraph instead (RewriteReluGrads): each
// ReluGrad, Relu6Grad and LeakyReluGrad that AddGradients created gets its
// incoming gradient passed through a Relu first (guided: the true gradient
// zeroed where dy < 0), or is replaced by Relu(dy) (deconvnet: max(dy, 0),
// ignoring the forward input). These are exactly the rules of the native
// engine (engine.ReluGuided, engine.ReluDeconv) for Relu, Relu6 and
// LeakyRelu, including the activations fused into _FusedConv2D once split.
//
// This package's pure-Go part (Lower, RewriteReluGrads, Reachable,
// Options) is built and tested everywhere; the cgo part is type-checked by
// `make vet-tensorflow` and executed only by `make test-tensorflow` on a
// machine with libtensorflow.
package tfengine
