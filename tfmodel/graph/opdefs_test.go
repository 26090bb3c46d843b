package graph

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	corepb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/internal/testenv"
)

// TestOpTableAgainstModels compares the built-in op table with the OpDefs
// TensorFlow itself wrote into the shared models' stripped_op_list (TF 1.15
// to 2.20): output arg names, their list attributes, and every default
// value both sides define. It also checks that every op on a serving path
// (OPS.md) is in the table.
func TestOpTableAgainstModels(t *testing.T) {
	root := testenv.SharedModels(t)
	dirs, err := filepath.Glob(filepath.Join(root, "*", "saved_model.pb"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no models under %s: %v", root, err)
	}
	compared := map[string]bool{}
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sm := &corepb.SavedModel{}
		if err := proto.Unmarshal(b, sm); err != nil {
			t.Fatal(err)
		}
		for _, od := range sm.GetMetaGraphs()[0].GetMetaInfoDef().GetStrippedOpList().GetOp() {
			mine := opTable[od.GetName()]
			if mine == nil {
				continue
			}
			compared[od.GetName()] = true
			theirs := opDefFromProto(od)
			if len(mine.outputs) != len(theirs.outputs) {
				t.Errorf("%s (%s): outputs %v, TensorFlow's %v", od.GetName(), path, mine.outputs, theirs.outputs)
				continue
			}
			for i := range mine.outputs {
				if mine.outputs[i] != theirs.outputs[i] {
					t.Errorf("%s: output %d is %+v, TensorFlow's %+v", od.GetName(), i, mine.outputs[i], theirs.outputs[i])
				}
			}
			for k, v := range theirs.defaults {
				if m, ok := mine.defaults[k]; ok && !proto.Equal(m, v) {
					t.Errorf("%s: default %s = %v, TensorFlow's %v", od.GetName(), k, m, v)
				}
			}
			for k := range mine.defaults {
				if theirs.defaults[k] == nil {
					// Allowed only for attrs this TF version's OpDef lacks
					// or has without a default (U of FusedBatchNormV3).
					for _, a := range od.GetAttr() {
						if a.GetName() == k && a.GetName() != "U" {
							t.Errorf("%s: table defaults %s, TensorFlow's OpDef has no default for it", od.GetName(), k)
						}
					}
				}
			}
		}
	}
	t.Logf("compared %d ops with TensorFlow's OpDefs", len(compared))
	serving := []string{"ReadVariableOp", "VarHandleOp", "FusedBatchNormV3", "Conv2D", "Relu6", "BiasAdd", "Relu", "Const",
		"DepthwiseConv2dNative", "Identity", "MaxPool", "MatMul", "StatefulPartitionedCall", "AddV2", "NoOp", "Placeholder",
		"Reshape", "Pad", "Softmax", "Squeeze", "Mean", "Mul", "Pack", "ResizeBilinear", "Shape", "StridedSlice"}
	for _, op := range serving {
		if !KnownOp(op) {
			t.Errorf("serving op %s missing from the op table", op)
		}
		if !compared[op] {
			t.Errorf("serving op %s not found in any stripped_op_list", op)
		}
	}
}
