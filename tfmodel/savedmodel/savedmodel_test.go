package savedmodel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	opdefpb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	corepb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func node(name, op string, inputs ...string) *nodepb.NodeDef {
	return &nodepb.NodeDef{Name: name, Op: op, Input: inputs, Attr: map[string]*attrpb.AttrValue{}}
}

func call(name, f string, inputs ...string) *nodepb.NodeDef {
	n := node(name, "StatefulPartitionedCall", inputs...)
	n.Attr["f"] = &attrpb.AttrValue{Value: &attrpb.AttrValue_Func{Func: &attrpb.NameAttrList{Name: f}}}
	return n
}

func stringConst(name string, vals ...string) *nodepb.NodeDef {
	n := node(name, "Const")
	p := &tensorpb.TensorProto{Dtype: typespb.DataType_DT_STRING, TensorShape: tensor.ShapeProto([]int{len(vals)})}
	for _, v := range vals {
		p.StringVal = append(p.StringVal, []byte(v))
	}
	n.Attr["value"] = &attrpb.AttrValue{Value: &attrpb.AttrValue_Tensor{Tensor: p}}
	return n
}

func fn(name string, args []string, nodes ...*nodepb.NodeDef) *fnpb.FunctionDef {
	sig := &opdefpb.OpDef{Name: name}
	for _, a := range args {
		sig.InputArg = append(sig.InputArg, &opdefpb.OpDef_ArgDef{Name: a, Type: typespb.DataType_DT_RESOURCE})
	}
	return &fnpb.FunctionDef{Signature: sig, NodeDef: nodes}
}

// TestVariableKeysNested follows handles through two levels of calls into
// a restore function (as TF2 Keras saves do), with Identity hops, control
// inputs and a decoy assignment from a non-restored value.
func TestVariableKeysNested(t *testing.T) {
	inner := fn("restore_inner", []string{"ra", "rb", "rc"},
		stringConst("RestoreV2/tensor_names", "key/a", "key/b", "key/c"),
		node("RestoreV2", "RestoreV2", "prefix", "RestoreV2/tensor_names:output:0", "slices:output:0"),
		node("Identity_1", "Identity", "RestoreV2:tensors:1"),
		node("Identity_2", "Identity", "Identity_1:output:0"),
		node("AssignVariableOp", "AssignVariableOp", "rb", "Identity_2:output:0", "^NoOp"),
		node("Identity_0", "Identity", "RestoreV2:tensors:0"),
		node("AssignVariableOp_1", "AssignVariableOp", "ra", "Identity_0:output:0"),
		node("zero", "ZerosLike", "Identity_0:output:0"),
		node("AssignVariableOp_2", "AssignVariableOp", "rc", "zero:y:0"),
	)
	outer := fn("restore_outer", []string{"x", "y", "z"},
		node("hx", "Identity", "x"),
		call("inner_call", "restore_inner", "hx:output:0", "y", "z", "^hx"),
	)
	mg := &corepb.MetaGraphDef{GraphDef: &graphpb.GraphDef{
		Node: []*nodepb.NodeDef{
			node("va", "VarHandleOp"), node("vb", "VarHandleOp"), node("vc", "VarHandleOp"),
			call("StatefulPartitionedCall_2", "restore_outer", "va", "vb", "vc"),
			// TF1 ref variable restored in the main graph.
			node("w", "VariableV2"),
			stringConst("save/names", "key/w0", "key/w"),
			node("save/RestoreV2", "RestoreV2", "save/Const", "save/names", "save/slices"),
			node("save/Assign", "Assign", "w", "save/RestoreV2:1"),
		},
		Library: &fnpb.FunctionDefLibrary{Function: []*fnpb.FunctionDef{inner, outer}},
	}}
	got, err := VariableKeys(mg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"va": "key/a", "vb": "key/b", "w": "key/w"}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s -> %q, want %q", k, got[k], v)
		}
	}

	// A function calling itself is reported, not followed forever.
	outer.NodeDef = append(outer.NodeDef, call("again", "restore_outer", "x", "y", "z"))
	if _, err := VariableKeys(mg); err == nil || !strings.Contains(err.Error(), "recursively") {
		t.Errorf("recursive restore function: %v", err)
	}
}

func TestSharedVariableKeys(t *testing.T) {
	root := testenv.SharedModels(t)
	// Counts and examples from reports/*.txt (savedmodel-inspect -varmap).
	cases := []struct {
		model, handle, key string
		n                  int
	}{
		{"tm-mobilenetv2-eyes-tf115", "Conv_1/kernel", "layer_with_weights-0/layer_with_weights-0/layer_with_weights-102/kernel/.ATTRIBUTES/VARIABLE_VALUE", 263},
		{"potato-disease-tf25", "Adam/conv2d_18/bias/m", "layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", 59},
		{"mnist-keras3-export-tf220", "Variable_3", "variables/5/.ATTRIBUTES/VARIABLE_VALUE", 17},
	}
	for _, c := range cases {
		sm, err := Read(filepath.Join(root, c.model))
		if err != nil {
			t.Fatal(err)
		}
		mg, err := sm.MetaGraph(nil)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := VariableKeys(mg)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != c.n || keys[c.handle] != c.key {
			t.Errorf("%s: %d keys, %s -> %q; want %d, %q", c.model, len(keys), c.handle, keys[c.handle], c.n, c.key)
		}
	}
}

func TestInfo(t *testing.T) {
	root := testenv.SharedModels(t)
	cases := map[string]Info{
		"tm-mobilenetv2-eyes-tf115":        {TFVersion: "1.15.0-rc3", Format: FormatTF1, KerasVersion: "2.2.4-tf"},
		"potato-disease-tf25":              {TFVersion: "2.5.0", Format: FormatTF2Keras, KerasVersion: "2.5.0"},
		"cifar10-logits-tf28":              {TFVersion: "2.8.0", Format: FormatTF2Keras, KerasVersion: "2.8.0"},
		"mnist-keras3-export-tf220":        {TFVersion: "2.20.0", Format: FormatKeras3Export},
		"fashion-mnist-functional-bn-tf25": {TFVersion: "2.5.0", Format: FormatTF2Keras, KerasVersion: "2.5.0"},
	}
	for name, want := range cases {
		sm, err := Read(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		mg, _ := sm.MetaGraph([]string{"serve"})
		got := sm.Info(mg)
		if got.TFVersion != want.TFVersion || got.Format != want.Format || got.KerasVersion != want.KerasVersion {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
}

func testModel() *corepb.SavedModel {
	return &corepb.SavedModel{MetaGraphs: []*corepb.MetaGraphDef{{
		MetaInfoDef: &corepb.MetaGraphDef_MetaInfoDef{Tags: []string{"serve", "gpu"}},
		GraphDef:    &graphpb.GraphDef{Node: []*nodepb.NodeDef{node("x", "Placeholder"), node("y", "Relu", "x")}},
		SignatureDef: map[string]*corepb.SignatureDef{
			"predict": {
				MethodName: "tensorflow/serving/predict",
				Inputs:     map[string]*corepb.TensorInfo{"in": {Encoding: &corepb.TensorInfo_Name{Name: "x:0"}, Dtype: typespb.DataType_DT_FLOAT, TensorShape: tensor.ShapeProto([]int{-1, 3})}},
				Outputs:    map[string]*corepb.TensorInfo{"out": {Encoding: &corepb.TensorInfo_Name{Name: "y:0"}, Dtype: typespb.DataType_DT_HALF}},
			},
			"empty": {},
		},
	}}}
}

func TestSelection(t *testing.T) {
	sm := &SavedModel{Dir: "m", Proto: testModel()}
	if _, err := sm.MetaGraph(nil); err == nil || !strings.Contains(err.Error(), "[gpu,serve]") || !strings.Contains(err.Error(), "tags [serve]") {
		t.Errorf("default tags: %v", err)
	}
	mg, err := sm.MetaGraph([]string{"gpu", "serve", "gpu"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SelectSignature(mg, ""); err == nil || !strings.Contains(err.Error(), `"serving_default"`) || !strings.Contains(err.Error(), "empty, predict") {
		t.Errorf("default signature: %v", err)
	}
	if _, err := SelectSignature(mg, "empty"); err == nil || !strings.Contains(err.Error(), "no outputs") {
		t.Errorf("signature without outputs: %v", err)
	}
	s, err := SelectSignature(mg, "predict")
	if err != nil {
		t.Fatal(err)
	}
	in, out := s.Inputs[0], s.Outputs[0]
	if in.Key != "in" || in.Name != "x:0" || in.DType != tensor.Float32 || len(in.Shape) != 2 || in.Shape[0] != -1 || in.Shape[1] != 3 {
		t.Errorf("input %+v", in)
	}
	if out.DType != tensor.Invalid || out.DTypeName != "DT_HALF" || out.Shape != nil {
		t.Errorf("output %+v", out)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "no saved_model.pb or saved_model.pbtxt") {
		t.Errorf("empty dir: %v", err)
	}
	b, _ := proto.Marshal(testModel())
	pb := filepath.Join(dir, "saved_model.pb")
	for _, n := range []int{0, 10, len(b) - 1} {
		os.WriteFile(pb, b[:n], 0o644)
		if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), pb) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	os.Remove(pb)
	txt, _ := prototext.Marshal(testModel())
	os.WriteFile(filepath.Join(dir, "saved_model.pbtxt"), txt, 0o644)
	sm, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(sm.Proto, testModel()) {
		t.Error("pbtxt round trip differs")
	}
	os.WriteFile(filepath.Join(dir, "saved_model.pbtxt"), append(txt, "meta_graphs { bogus: 1 }"...), 0o644)
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "saved_model.pbtxt") {
		t.Errorf("bad pbtxt: %v", err)
	}
}

// FuzzSavedModel parses arbitrary bytes as a SavedModel and, when they
// parse, runs everything Load does with the graph: signatures, the
// variable map and the graph build. None of it may panic.
func FuzzSavedModel(f *testing.F) {
	b, _ := proto.Marshal(testModel())
	f.Add(b)
	txt, _ := prototext.Marshal(testModel())
	f.Add(txt)
	if dir := testenv.SharedModelsDir(); dir != "" {
		if real, err := os.ReadFile(filepath.Join(dir, "mnist-keras3-export-tf220", "saved_model.pb")); err == nil {
			f.Add(real)
		}
	}
	empty := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, text := range []bool{false, true} {
			sm, err := Parse(data, text)
			if err != nil {
				continue
			}
			for _, mg := range sm.GetMetaGraphs() {
				VariableKeys(mg)
				(&SavedModel{Dir: empty, Proto: sm}).Info(mg)
				for _, s := range Signatures(mg) {
					var outs []string
					for _, o := range s.Outputs {
						outs = append(outs, o.Name)
					}
					if len(outs) > 0 {
						graph.FromGraphDef(mg.GetGraphDef(), graph.BuildOptions{Outputs: outs, OpDefs: mg.GetMetaInfoDef().GetStrippedOpList().GetOp(), MaxNodes: 1 << 12})
					}
				}
			}
		}
	})
}
