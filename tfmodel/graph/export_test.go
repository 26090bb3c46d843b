package graph_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	_ "github.com/tbviz/tbviz/tfmodel/native/image" // ResizeBilinear (potato)
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// smallGraph is x (Placeholder) · ReadVariableOp(w) + b, with a
// colocation attribute that the export must drop.
func smallGraph(t *testing.T) *graph.Graph {
	t.Helper()
	f32 := graph.TypeAttr(tensor.Float32)
	x := &graph.Node{Name: "x", Op: "Placeholder", NumOutputs: 1, Attrs: map[string]*attrpb.AttrValue{"dtype": f32}}
	w := &graph.Node{Name: "dense/kernel", Op: "VarHandleOp", NumOutputs: 1, VarKey: "k",
		Attrs: map[string]*attrpb.AttrValue{"dtype": f32}, Value: tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)}
	r := &graph.Node{Name: "dense/MatMul/ReadVariableOp", Op: "ReadVariableOp", NumOutputs: 1, Inputs: []graph.Endpoint{w.Output(0)},
		Attrs: map[string]*attrpb.AttrValue{"dtype": f32}}
	mm := &graph.Node{Name: "dense/MatMul", Op: "MatMul", NumOutputs: 1, Inputs: []graph.Endpoint{x.Output(0), r.Output(0)},
		Attrs: map[string]*attrpb.AttrValue{"T": f32, "transpose_a": graph.BoolAttr(false), "transpose_b": graph.BoolAttr(false),
			"_class": graph.StringsAttr("loc:@dense/kernel")}}
	b := &graph.Node{Name: "dense/bias", Op: "Const", NumOutputs: 1, Value: tensor.FromFloat32([]float32{0.5, -1, 2}, 3),
		Attrs: map[string]*attrpb.AttrValue{"dtype": f32}}
	add := &graph.Node{Name: "dense/BiasAdd", Op: "BiasAdd", NumOutputs: 1, Inputs: []graph.Endpoint{mm.Output(0), b.Output(0)},
		Attrs: map[string]*attrpb.AttrValue{"T": f32, "data_format": graph.StringAttr("NHWC")}}
	g, err := graph.New([]*graph.Node{x, w, r, mm, b, add})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestToGraphDefSmall(t *testing.T) {
	g := smallGraph(t)
	gd, err := graph.ToGraphDef(g)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ name, op, inputs string }
	var got []row
	for _, n := range gd.GetNode() {
		got = append(got, row{n.GetName(), n.GetOp(), strings.Join(n.GetInput(), ",")})
	}
	want := []row{
		{"x", "Placeholder", ""},
		{"dense/kernel", "Const", ""},
		{"dense/MatMul/ReadVariableOp", "Identity", "dense/kernel"},
		{"dense/MatMul", "MatMul", "x,dense/MatMul/ReadVariableOp"},
		{"dense/bias", "Const", ""},
		{"dense/BiasAdd", "BiasAdd", "dense/MatMul,dense/bias"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("nodes\n got %v\nwant %v", got, want)
	}
	byName := map[string]int{}
	for i, n := range gd.GetNode() {
		byName[n.GetName()] = i
	}
	if _, ok := gd.GetNode()[byName["dense/MatMul"]].GetAttr()["_class"]; ok {
		t.Error("the _class attribute was exported")
	}
	if dt := gd.GetNode()[byName["dense/MatMul/ReadVariableOp"]].GetAttr()["T"].GetType(); dt != tensor.ProtoDType(tensor.Float32) {
		t.Errorf("Identity T = %v, want DT_FLOAT", dt)
	}
	k := gd.GetNode()[byName["dense/kernel"]].GetAttr()["value"].GetTensor()
	kt, err := tensor.FromProto(k)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kt.Shape, []int{2, 3}) || !slices.Equal(kt.F32, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("kernel Const = %v", kt)
	}
	// The GraphDef must survive serialisation (what TF's importer reads).
	b, err := proto.Marshal(gd)
	if err != nil {
		t.Fatal(err)
	}
	var back graphpb.GraphDef
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(gd, &back) {
		t.Error("GraphDef changed through Marshal/Unmarshal")
	}
}

func TestToGraphDefErrors(t *testing.T) {
	if _, err := graph.ToGraphDef(nil); err == nil {
		t.Error("nil graph: no error")
	}
	bad := &graph.Node{Name: "c", Op: "Const", NumOutputs: 1, Value: &tensor.Tensor{DType: tensor.Float32, Shape: []int{4}, F32: []float32{1}}}
	g, err := graph.New([]*graph.Node{bad})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graph.ToGraphDef(g); err == nil || !strings.Contains(err.Error(), "node c (Const)") {
		t.Errorf("short value: error %v, want one naming node c", err)
	}
	noop := &graph.Node{Name: "n", NumOutputs: 1}
	g, err = graph.New([]*graph.Node{noop})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graph.ToGraphDef(g); err == nil || !strings.Contains(err.Error(), "no op type") {
		t.Errorf("empty op: error %v", err)
	}
	rv := smallGraph(t)
	rv.Node("dense/MatMul/ReadVariableOp").Attrs["dtype"] = graph.TypeAttr(tensor.Int32)
	if _, err := graph.ToGraphDef(rv); err == nil || !strings.Contains(err.Error(), "ReadVariableOp") {
		t.Errorf("dtype mismatch: error %v", err)
	}
}

// exportedOp is the op a node of the IR has in the exported GraphDef.
func exportedOp(n *graph.Node) string {
	if n.Value != nil {
		return "Const"
	}
	if n.Op == "ReadVariableOp" && len(n.Inputs) == 1 && n.Inputs[0].Node.Value != nil {
		return "Identity"
	}
	return n.Op
}

// TestToGraphDefRoundTripSharedModels exports every shared model's graph,
// rebuilds it with FromGraphDef and checks that the node set, the ops, the
// inputs and the constant values are the same, and that the native engine
// computes bit-identical outputs on both graphs.
func TestToGraphDefRoundTripSharedModels(t *testing.T) {
	root := testenv.SharedModels(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			m, err := tfmodel.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			gd, err := graph.ToGraphDef(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := m.Input("")
			out, _ := m.Output("")
			g2, err := graph.FromGraphDef(gd, graph.BuildOptions{Outputs: []string{out.Tensor}, Feeds: []string{in.Tensor}})
			if err != nil {
				t.Fatal(err)
			}
			if len(g2.Nodes) != len(m.Graph.Nodes) {
				t.Errorf("%d nodes after the round trip, %d before", len(g2.Nodes), len(m.Graph.Nodes))
			}
			for _, a := range m.Graph.Nodes {
				b := g2.Node(a.Name)
				if b == nil {
					t.Errorf("node %s lost", a)
					continue
				}
				if b.Op != exportedOp(a) {
					t.Errorf("node %s: op %s after the round trip, want %s", a, b.Op, exportedOp(a))
				}
				var ia, ib []string
				for _, e := range a.Inputs {
					ia = append(ia, e.String())
				}
				for _, e := range b.Inputs {
					ib = append(ib, e.String())
				}
				if !slices.Equal(ia, ib) {
					t.Errorf("node %s: inputs %v after the round trip, want %v", a, ib, ia)
				}
				if (a.Value == nil) != (b.Value == nil) {
					t.Errorf("node %s: value presence changed", a)
				} else if a.Value != nil && !proto.Equal(a.Value.Proto(), b.Value.Proto()) {
					t.Errorf("node %s: value changed", a)
				}
			}
			x := tensor.New(in.DType, append([]int{1}, in.Shape[1:]...)...)
			r := rand.New(rand.NewPCG(7, uint64(n)))
			for i := range x.F32 {
				x.F32[i] = r.Float32()
			}
			ya := runNative(t, m.Graph, in.Tensor, out.Tensor, x)
			yb := runNative(t, g2, in.Tensor, out.Tensor, x)
			if !slices.Equal(ya.Shape, yb.Shape) || !slices.Equal(ya.F32, yb.F32) {
				t.Errorf("outputs differ after the round trip:\n before %v\n after  %v", ya.F32, yb.F32)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no SavedModels under %s", root)
	}
}

func runNative(t *testing.T, g *graph.Graph, in, out string, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	e, err := native.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res, err := e.Run(context.Background(), map[string]*tensor.Tensor{in: x}, []string{out})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}
