package tfmodel

import (
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// FormatTFJS is Model.Format for TF.js graph-models. SavedModels report
// package savedmodel's formats ("tf1-savedmodel", "tf2-keras-savedmodel",
// "keras3-export", "tf2-savedmodel").
const FormatTFJS = "tfjs-graph-model"

// Model is a loaded model: its executable graph and what is known about it.
type Model struct {
	// Dir is the directory the model was loaded from.
	Dir string
	// Format names the kind of model, e.g. "tf2-keras-savedmodel",
	// "keras3-export", "tf1-savedmodel" or "tfjs-graph-model".
	Format string
	// TFVersion and TFGitVersion are the TensorFlow version that wrote a
	// SavedModel (empty for TF.js models).
	TFVersion, TFGitVersion string
	// KerasVersion is the Keras version from the model's metadata, when
	// present.
	KerasVersion string
	// Graph is the inlined graph pruned to the selected signature's
	// outputs (and LoadOptions.ExtraOutputs), with every intermediate node
	// of that path, variables bound to their values.
	Graph *graph.Graph
	// Signatures lists every signature of the model, sorted by name.
	Signatures []SignatureInfo
	// Signature is the selected signature. Its tensor names are names of
	// Graph that engines can feed and fetch.
	Signature SignatureInfo
	// Variables lists the variables bound in Graph, in graph order.
	Variables []VariableInfo
	// Notes are remarks about the model worth showing a user (e.g. a
	// signature input that the outputs do not depend on).
	Notes []string
}

// SignatureInfo describes one signature.
type SignatureInfo struct {
	// Name is the signature key, e.g. "serving_default".
	Name string
	// Method is the SignatureDef method name, e.g.
	// "tensorflow/serving/predict"; empty for TF.js models.
	Method string
	// Inputs and Outputs are sorted by Key.
	Inputs, Outputs []TensorInfo
}

// TensorInfo describes one input or output of a signature.
type TensorInfo struct {
	// Key is the signature key, e.g. "conv2d_input" or "output_0".
	Key string
	// Tensor is the tensor name in the graph, e.g.
	// "serving_default_conv2d_input:0" or "StatefulPartitionedCall:0".
	Tensor string
	// DType is the element type (tensor.Invalid when unknown).
	DType tensor.DType
	// Shape uses -1 for unknown dimensions (the batch); nil for unknown
	// rank.
	Shape []int
}

// VariableInfo describes one bound variable.
type VariableInfo struct {
	// Node is the variable-handle node in Graph, e.g. "conv2d_18/kernel".
	Node string
	// Key is the checkpoint key, e.g.
	// "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE".
	Key string
	// DType and Shape describe the value.
	DType tensor.DType
	Shape []int
}

// NumParams returns the number of elements of all bound variables (the
// parameter count Keras reports, trainable and not, for the serving path).
func (m *Model) NumParams() int {
	n := 0
	for _, v := range m.Variables {
		n += tensor.NumElements(v.Shape)
	}
	return n
}

// Input returns the selected signature's input with the given key, or the
// only input when key is empty.
func (m *Model) Input(key string) (TensorInfo, bool) { return pick(m.Signature.Inputs, key) }

// Output returns the selected signature's output with the given key, or
// the only output when key is empty.
func (m *Model) Output(key string) (TensorInfo, bool) { return pick(m.Signature.Outputs, key) }

func pick(ts []TensorInfo, key string) (TensorInfo, bool) {
	if key == "" {
		if len(ts) == 1 {
			return ts[0], true
		}
		return TensorInfo{}, false
	}
	for _, t := range ts {
		if t.Key == key {
			return t, true
		}
	}
	return TensorInfo{}, false
}
