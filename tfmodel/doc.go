// Package tfmodel loads trained TensorFlow models for tbviz without
// TensorFlow: SavedModels (TF1, TF2 Keras model.save, Keras 3
// model.export, in binary or text form) and TensorFlow.js graph-models.
//
// Load parses the model, picks a signature, inlines the functions on its
// serving path into one flat graph (package graph) pruned to the
// signature's outputs, and binds only the variables that graph reads from
// the checkpoint (package bundle). Every intermediate node of the serving
// path stays in Model.Graph under the name Keras gave it (e.g.
// "sequential/conv2d_2/Relu"), so visualization methods can fetch and
// differentiate internal activations. An engine (package native) then
// executes Model.Graph, feeding and fetching the tensor names listed in
// Model.Signature.
package tfmodel
