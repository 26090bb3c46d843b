package tfmodel_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tbviz/tbviz/tfmodel"
)

// tinySavedModel is a SavedModel in text form: a "serving_default"
// signature whose output comes from a function (as in TF2 Keras saves)
// computing softmax(x · w) with a constant w.
const tinySavedModel = `
meta_graphs {
  meta_info_def { tags: "serve" tensorflow_version: "2.15.0" }
  graph_def {
    node { name: "serving_default_x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
    node {
      name: "StatefulPartitionedCall" op: "StatefulPartitionedCall" input: "serving_default_x"
      attr { key: "f" value { func { name: "__inference_call_1" } } }
      attr { key: "Tout" value { list { type: DT_FLOAT } } }
    }
    library {
      function {
        signature {
          name: "__inference_call_1"
          input_arg { name: "x" type: DT_FLOAT }
          output_arg { name: "identity" type: DT_FLOAT }
        }
        node_def {
          name: "dense/kernel" op: "Const"
          attr { key: "dtype" value { type: DT_FLOAT } }
          attr { key: "value" value { tensor {
            dtype: DT_FLOAT
            tensor_shape { dim { size: 2 } dim { size: 2 } }
            float_val: [1, 0, 0, 1]
          } } }
        }
        node_def { name: "dense/MatMul" op: "MatMul" input: ["x", "dense/kernel:output:0"] attr { key: "T" value { type: DT_FLOAT } } }
        node_def { name: "dense/Softmax" op: "Softmax" input: "dense/MatMul:product:0" attr { key: "T" value { type: DT_FLOAT } } }
        ret { key: "identity" value: "dense/Softmax:softmax:0" }
      }
    }
  }
  signature_def {
    key: "serving_default"
    value {
      method_name: "tensorflow/serving/predict"
      inputs { key: "x" value { name: "serving_default_x:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 2 } } } }
      outputs { key: "probs" value { name: "StatefulPartitionedCall:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 2 } } } }
    }
  }
}
`

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "tinymodel")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pbtxt"), []byte(tinySavedModel), 0o644); err != nil {
		log.Fatal(err)
	}

	m, err := tfmodel.Load(dir, nil) // nil: tags "serve", signature "serving_default"
	if err != nil {
		log.Fatal(err)
	}
	in, _ := m.Input("")
	out, _ := m.Output("")
	fmt.Println("TensorFlow", m.TFVersion)
	fmt.Printf("feed %s %v, fetch %s %v\n", in.Tensor, in.Shape, out.Tensor, out.Shape)
	// The function body is inlined; its nodes keep their layer names.
	for _, n := range m.Graph.Nodes {
		fmt.Printf("%-25s %s\n", n.Name, n.Op)
	}
	// Output:
	// TensorFlow 2.15.0
	// feed serving_default_x:0 [-1 2], fetch StatefulPartitionedCall:0 [-1 2]
	// serving_default_x         Placeholder
	// dense/kernel              Const
	// dense/MatMul              MatMul
	// dense/Softmax             Softmax
	// StatefulPartitionedCall   Identity
}
