package tfmodel_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/bundle"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// ExampleLoadCheckpoint pairs a SavedModel's graph with the weights of a
// training checkpoint. The checkpoint here is written in Go in the layout
// of tf.train.CheckpointManager (variables under "model/", a step counter);
// a real one comes from TensorFlow.
func ExampleLoadCheckpoint() {
	m, err := tfmodel.Load("../examples/cifar10/model", nil)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ckpt")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	prefix := filepath.Join(dir, "ckpt-12")
	ts := map[string]*tensor.Tensor{
		"optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE": {DType: tensor.Int64, Shape: []int{}, I64: []int64{1200}},
	}
	for _, n := range m.Graph.Nodes {
		if n.VarKey != "" && n.Value != nil {
			ts["model/"+n.VarKey] = n.Value
		}
	}
	if err := bundle.Write(prefix, ts); err != nil {
		log.Fatal(err)
	}

	trained, err := tfmodel.LoadCheckpoint(m, prefix)
	if err != nil {
		log.Fatal(err)
	}
	step, key, ok, err := tfmodel.CheckpointStep(prefix)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(trained.Variables), "variables re-bound")
	fmt.Println("step", step, "from", key, ok)
	// Output:
	// 10 variables re-bound
	// step 1200 from optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE true
}
