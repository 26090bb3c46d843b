package tfjs

import (
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// TestFromGraphDef builds tbviz's graph IR from every loaded graph-model,
// pruned to Info.OutputNames, and checks the weights arrive as Const values.
func TestFromGraphDef(t *testing.T) {
	dir, models := graphModels(t)
	for _, mm := range models {
		t.Run(mm.Name, func(t *testing.T) {
			gd, info, err := Load(filepath.Join(dir, mm.Name))
			if err != nil {
				t.Fatal(err)
			}
			g, err := graph.FromGraphDef(gd, graph.BuildOptions{Outputs: info.OutputNames})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Nodes) == 0 || len(g.Nodes) > len(gd.GetNode()) {
				t.Fatalf("%d nodes built from %d", len(g.Nodes), len(gd.GetNode()))
			}
			for _, name := range append(append([]string(nil), info.InputNames...), info.OutputNames...) {
				if _, err := g.Resolve(name); err != nil {
					t.Errorf("built graph lacks %s: %v", name, err)
				}
			}
			specShape := map[string][]int{}
			for _, n := range gd.GetNode() {
				if n.GetOp() == "Const" {
					specShape[n.GetName()] = tensor.ShapeFromProto(n.GetAttr()["value"].GetTensor().GetTensorShape())
				}
			}
			for _, n := range g.Nodes {
				if n.Op != "Const" {
					continue
				}
				if n.Value == nil || !tensor.SameShape(n.Value.Shape, specShape[n.Name]) {
					t.Errorf("Const %s: value %v, want shape %v", n.Name, n.Value, specShape[n.Name])
				}
			}
		})
	}
	// nsfwjs: the whole network is on the path to the output, and fused
	// node names keep their fused ops.
	gd, info, err := Load(filepath.Join(dir, "nsfwjs-mobilenetv2"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.FromGraphDef(gd, graph.BuildOptions{Outputs: info.OutputNames})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != len(gd.GetNode()) {
		t.Errorf("nsfwjs: %d nodes after pruning, model has %d (all are needed)", len(g.Nodes), len(gd.GetNode()))
	}
	const conv = "StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/Conv/Relu6"
	n := g.Node(conv)
	if n == nil || n.Op != "_FusedConv2D" {
		t.Fatalf("node %s = %v, want a _FusedConv2D", conv, n)
	}
	if ops, err := n.AttrStrings("fused_ops"); err != nil || len(ops) != 2 || ops[0] != "BiasAdd" || ops[1] != "Relu6" {
		t.Errorf("fused_ops %v, %v; want [BiasAdd Relu6]", ops, err)
	}
	if w := n.Inputs[1].Node; w.Value == nil || !tensor.SameShape(w.Value.Shape, []int{3, 3, 3, 48}) {
		t.Errorf("conv filter %v, want a [3 3 3 48] value", w)
	}
}
