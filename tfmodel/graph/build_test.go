package graph

import (
	"slices"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	fnpb "github.com/wamuir/graft/tensorflow/core/framework/function_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	opdefpb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func nd(name, op string, inputs []string, at map[string]*attrpb.AttrValue) *nodepb.NodeDef {
	return &nodepb.NodeDef{Name: name, Op: op, Input: inputs, Attr: at}
}

func f32() *attrpb.AttrValue { return TypeAttr(tensor.Float32) }

func typesAttr(ts ...tensor.DType) *attrpb.AttrValue {
	l := &attrpb.AttrValue_ListValue{}
	for _, t := range ts {
		l.Type = append(l.Type, tensor.ProtoDType(t))
	}
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: l}}
}

func funcAttr(name string) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Func{Func: &attrpb.NameAttrList{Name: name}}}
}

func constNode(name string, t *tensor.Tensor) *nodepb.NodeDef {
	return nd(name, "Const", nil, map[string]*attrpb.AttrValue{
		"dtype": TypeAttr(t.DType),
		"value": {Value: &attrpb.AttrValue_Tensor{Tensor: t.Proto()}},
	})
}

func arg(name string, t typespb.DataType) *opdefpb.OpDef_ArgDef {
	return &opdefpb.OpDef_ArgDef{Name: name, Type: t}
}

// nestedGraph is a main graph calling "outer" through a
// StatefulPartitionedCall; "outer" calls "inner" as a function-name op.
// References inside the bodies use output-arg names, list outputs
// (Split, IdentityN) and control inputs.
func nestedGraph() *graphpb.GraphDef {
	const F, R = typespb.DataType_DT_FLOAT, typespb.DataType_DT_RESOURCE
	inner := &fnpb.FunctionDef{
		Signature: &opdefpb.OpDef{
			Name:      "inner",
			InputArg:  []*opdefpb.OpDef_ArgDef{arg("a", F), arg("b", F)},
			OutputArg: []*opdefpb.OpDef_ArgDef{arg("out_a", F), arg("out_b", F)},
		},
		NodeDef: []*nodepb.NodeDef{
			nd("model/add", "AddV2", []string{"a", "b"}, map[string]*attrpb.AttrValue{"T": f32()}),
			nd("model/relu", "Relu", []string{"model/add:z:0", "^x"}, map[string]*attrpb.AttrValue{"T": f32()}),
			nd("x", "Neg", []string{"a"}, map[string]*attrpb.AttrValue{"T": f32()}),
			nd("n", "IdentityN", []string{"model/relu:activations:0", "x:y:0"}, map[string]*attrpb.AttrValue{"T": typesAttr(tensor.Float32, tensor.Float32)}),
		},
		Ret: map[string]string{"out_a": "model/relu:activations:0", "out_b": "n:output:1"},
	}
	outer := &fnpb.FunctionDef{
		Signature: &opdefpb.OpDef{
			Name:      "outer",
			InputArg:  []*opdefpb.OpDef_ArgDef{arg("inp", F), arg("h", R)},
			OutputArg: []*opdefpb.OpDef_ArgDef{arg("first", F), arg("second", F)},
		},
		NodeDef: []*nodepb.NodeDef{
			nd("read", "ReadVariableOp", []string{"h"}, map[string]*attrpb.AttrValue{"dtype": f32()}),
			nd("inner_call", "inner", []string{"inp", "read:value:0"}, nil),
			constNode("dim", tensor.FromInt32([]int32{0}, 1)),
			nd("split", "Split", []string{"dim:output:0", "inner_call:out_b:0"}, map[string]*attrpb.AttrValue{"T": f32(), "num_split": IntAttr(2)}),
			nd("Identity", "Identity", []string{"split:output:1"}, map[string]*attrpb.AttrValue{"T": f32()}),
		},
		Ret: map[string]string{"first": "inner_call:out_a:0", "second": "Identity:output:0"},
	}
	return &graphpb.GraphDef{
		Node: []*nodepb.NodeDef{
			nd("x", "Placeholder", nil, map[string]*attrpb.AttrValue{"dtype": f32()}),
			nd("v", "VarHandleOp", nil, map[string]*attrpb.AttrValue{"dtype": f32()}),
			constNode("w", tensor.FromFloat32([]float32{1, 2}, 2)),
			nd("call", "StatefulPartitionedCall", []string{"x", "v", "^w"}, map[string]*attrpb.AttrValue{
				"f": funcAttr("outer"), "Tin": typesAttr(tensor.Float32), "Tout": typesAttr(tensor.Float32, tensor.Float32),
			}),
			nd("y", "Identity", []string{"call:1"}, map[string]*attrpb.AttrValue{"T": f32()}),
			nd("dead", "Relu", []string{"x"}, map[string]*attrpb.AttrValue{"T": f32()}),
			nd("Identity", "Identity", []string{"dead"}, map[string]*attrpb.AttrValue{"T": f32()}),
		},
		Library: &fnpb.FunctionDefLibrary{Function: []*fnpb.FunctionDef{inner, outer}},
	}
}

func inputNames(n *Node) []string {
	var out []string
	for _, in := range n.Inputs {
		out = append(out, in.String())
	}
	return out
}

func TestInlineNested(t *testing.T) {
	var bound []string
	g, err := FromGraphDef(nestedGraph(), BuildOptions{
		Outputs: []string{"y", "call:0"},
		Variable: func(n *Node) error {
			bound = append(bound, n.Name)
			n.Value = tensor.FromFloat32([]float32{3}, 1)
			n.VarKey = "key/v"
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		op     string
		inputs []string
		nout   int
	}{
		"x":             {"Placeholder", nil, 1},
		"v":             {"VarHandleOp", nil, 1},
		"read":          {"ReadVariableOp", []string{"v"}, 1},
		"model/add":     {"AddV2", []string{"x", "read"}, 1},
		"model/relu":    {"Relu", []string{"model/add"}, 1},
		"inner_call/x":  {"Neg", []string{"x"}, 1}, // "x" is taken by the main graph
		"n":             {"IdentityN", []string{"model/relu", "inner_call/x"}, 2},
		"inner_call":    {"IdentityN", []string{"model/relu", "n:1"}, 2},
		"dim":           {"Const", nil, 1},
		"split":         {"Split", []string{"dim", "inner_call:1"}, 2},
		"call/Identity": {"Identity", []string{"split:1"}, 1}, // "Identity" is a main-graph name
		"call":          {"IdentityN", []string{"inner_call", "call/Identity"}, 2},
		"y":             {"Identity", []string{"call:1"}, 1},
	}
	var got []string
	for _, n := range g.Nodes {
		got = append(got, n.Name)
		w, ok := want[n.Name]
		if !ok {
			t.Errorf("unexpected node %s", n)
			continue
		}
		if n.Op != w.op || !slices.Equal(inputNames(n), w.inputs) || n.NumOutputs != w.nout {
			t.Errorf("node %s: inputs %v, %d outputs; want %s %v, %d outputs", n, inputNames(n), n.NumOutputs, w.op, w.inputs, w.nout)
		}
	}
	if len(got) != len(want) {
		t.Errorf("nodes %v, want the %d nodes %v", got, len(want), want)
	}
	if !slices.Equal(bound, []string{"v"}) {
		t.Errorf("Variable called for %v, want [v]", bound)
	}
	if v := g.Node("v"); v.Value == nil || v.VarKey != "key/v" {
		t.Errorf("handle v not bound: %+v", v)
	}
	if c := g.Node("dim"); c.Value == nil || c.Value.I32[0] != 0 {
		t.Errorf("Const dim value %v", c.Value)
	}
	if ts := g.Node("call").Attrs["T"].GetList().GetType(); len(ts) != 2 || ts[0] != typespb.DataType_DT_FLOAT {
		t.Errorf("call site IdentityN T = %v, want [float float]", ts)
	}
	// Pruned: w (control input only), dead, and the main-graph Identity.
	for _, name := range []string{"w", "dead", "Identity"} {
		if g.Node(name) != nil {
			t.Errorf("node %s should have been pruned", name)
		}
	}
}

func TestFeedsStopPruning(t *testing.T) {
	gd := nestedGraph()
	g, err := FromGraphDef(gd, BuildOptions{Outputs: []string{"dead"}, Feeds: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 || g.Nodes[0].Name != "x" || g.Nodes[1].Name != "dead" {
		t.Fatalf("nodes %v", g.Nodes)
	}
	// Feeding an intermediate node cuts its inputs.
	g, err = FromGraphDef(gd, BuildOptions{Outputs: []string{"Identity"}, Feeds: []string{"dead:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 || len(g.Node("dead").Inputs) != 0 {
		t.Fatalf("nodes %v", g.Nodes)
	}
}

func TestDefaultAttrs(t *testing.T) {
	gd := &graphpb.GraphDef{Node: []*nodepb.NodeDef{
		nd("x", "Placeholder", nil, map[string]*attrpb.AttrValue{"dtype": f32()}),
		constNode("w", tensor.New(tensor.Float32, 1, 1, 1, 1)),
		nd("conv", "Conv2D", []string{"x", "w"}, map[string]*attrpb.AttrValue{"T": f32(), "strides": IntsAttr(1, 1, 1, 1), "padding": StringAttr("SAME")}),
		constNode("s", tensor.New(tensor.Float32, 1)),
		nd("bn", "FusedBatchNormV3", []string{"conv", "s", "s", "s", "s"}, map[string]*attrpb.AttrValue{"T": f32(), "U": f32(), "epsilon": FloatAttr(0.001), "is_training": BoolAttr(false)}),
		nd("bn_train", "FusedBatchNormV3", []string{"conv", "s", "s", "s", "s"}, map[string]*attrpb.AttrValue{"T": f32()}),
		constNode("axes", tensor.FromInt32([]int32{1, 2}, 2)),
		nd("mean", "Mean", []string{"bn:0", "axes"}, map[string]*attrpb.AttrValue{"T": f32()}),
		nd("lrelu", "LeakyRelu", []string{"bn_train:0"}, map[string]*attrpb.AttrValue{"T": f32()}),
		nd("unk", "SomeFutureOp", []string{"x"}, nil),
	}}
	g, err := FromGraphDef(gd, BuildOptions{Outputs: []string{"mean", "lrelu", "bn:2", "unk:3"}})
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Node("conv")
	if s, _ := conv.AttrString("data_format"); s != "NHWC" {
		t.Errorf("conv data_format %q", s)
	}
	if d, _ := conv.AttrInts("dilations"); !slices.Equal(d, []int{1, 1, 1, 1}) {
		t.Errorf("conv dilations %v", d)
	}
	if d, err := conv.AttrInts("explicit_paddings"); err != nil || len(d) != 0 {
		t.Errorf("conv explicit_paddings %v %v", d, err)
	}
	if b, _ := conv.AttrBool("use_cudnn_on_gpu"); !b {
		t.Error("conv use_cudnn_on_gpu not defaulted to true")
	}
	bn := g.Node("bn")
	if b, _ := bn.AttrBool("is_training"); b {
		t.Error("explicit is_training=false overridden")
	}
	if e, _ := bn.AttrFloat("epsilon"); e < 0.00099 || e > 0.00101 {
		t.Errorf("explicit epsilon %v overridden", e)
	}
	if bn.NumOutputs != 6 {
		t.Errorf("FusedBatchNormV3 has %d outputs", bn.NumOutputs)
	}
	bt := g.Node("bn_train")
	if b, _ := bt.AttrBool("is_training"); !b {
		t.Error("is_training default should be true (TensorFlow's OpDef default)")
	}
	if e, _ := bt.AttrFloat("epsilon"); e < 0.000099 || e > 0.000101 {
		t.Errorf("default epsilon %v", e)
	}
	if f, _ := bt.AttrFloat("exponential_avg_factor"); f != 1 {
		t.Errorf("default exponential_avg_factor %v", f)
	}
	if k, err := g.Node("mean").AttrBool("keep_dims"); err != nil || k {
		t.Errorf("keep_dims %v %v", k, err)
	}
	if a, _ := g.Node("lrelu").AttrFloat("alpha"); a < 0.1999 || a > 0.2001 {
		t.Errorf("LeakyRelu alpha %v", a)
	}
	if u := g.Node("unk"); u.NumOutputs != 4 {
		t.Errorf("unknown op: %d outputs, want 4 (highest referenced index + 1)", u.NumOutputs)
	}
}

func TestStrippedOpDefs(t *testing.T) {
	gd := &graphpb.GraphDef{
		Node: []*nodepb.NodeDef{
			nd("x", "Placeholder", nil, map[string]*attrpb.AttrValue{"dtype": f32()}),
			nd("c", "PartitionedCall", []string{"x"}, map[string]*attrpb.AttrValue{"f": funcAttr("f"), "Tout": typesAttr(tensor.Float32)}),
		},
		Library: &fnpb.FunctionDefLibrary{Function: []*fnpb.FunctionDef{{
			Signature: &opdefpb.OpDef{Name: "f", InputArg: []*opdefpb.OpDef_ArgDef{arg("a", typespb.DataType_DT_FLOAT)}, OutputArg: []*opdefpb.OpDef_ArgDef{arg("o", typespb.DataType_DT_FLOAT)}},
			NodeDef:   []*nodepb.NodeDef{nd("fut", "FutureOp", []string{"a"}, nil)},
			Ret:       map[string]string{"o": "fut:second:0"},
		}}},
	}
	_, err := FromGraphDef(gd, BuildOptions{Outputs: []string{"c"}})
	if err == nil || !strings.Contains(err.Error(), "FutureOp") || !strings.Contains(err.Error(), "function f") {
		t.Fatalf("unknown op referenced by arg name: err %v", err)
	}
	defs := []*opdefpb.OpDef{{
		Name:      "FutureOp",
		OutputArg: []*opdefpb.OpDef_ArgDef{{Name: "first"}, {Name: "second"}},
		Attr:      []*opdefpb.OpDef_AttrDef{{Name: "mode", DefaultValue: StringAttr("fast")}},
	}}
	g, err := FromGraphDef(gd, BuildOptions{Outputs: []string{"c"}, OpDefs: defs})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Node("c")
	if c.Inputs[0].String() != "fut:1" {
		t.Errorf("c reads %v, want fut:1", c.Inputs[0])
	}
	if m, _ := g.Node("fut").AttrString("mode"); m != "fast" {
		t.Errorf("default from stripped op list not filled: %q", m)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(gd *graphpb.GraphDef)
		out   string
		wants []string
	}{
		{"unknown main input", func(gd *graphpb.GraphDef) { gd.Node[4].Input[0] = "nope:1" }, "y", []string{`node "y"`, `"nope"`, "main graph"}},
		{"missing function", func(gd *graphpb.GraphDef) { gd.Node[3].Attr["f"] = funcAttr("gone") }, "y", []string{`"call"`, `"gone"`, "not in the library"}},
		{"bad output arg", func(gd *graphpb.GraphDef) { gd.Library.Function[1].NodeDef[3].Input[1] = "inner_call:out_z:0" }, "y", []string{"function outer", `"split"`, `"out_z"`, "out_a"}},
		{"bad op output arg", func(gd *graphpb.GraphDef) { gd.Library.Function[0].NodeDef[1].Input[0] = "model/add:sum:0" }, "y", []string{"function inner", `"model/add"`, "AddV2", `"sum"`}},
		{"unknown body node", func(gd *graphpb.GraphDef) { gd.Library.Function[0].NodeDef[0].Input[1] = "ghost:output:0" }, "y", []string{"function inner", "model/add", `"ghost"`}},
		{"cycle", func(gd *graphpb.GraphDef) { gd.Node[5].Input[0] = "Identity" }, "Identity", []string{"cycle", "dead"}},
		{"recursion", func(gd *graphpb.GraphDef) {
			gd.Library.Function[0].NodeDef[2].Op = "outer"
			gd.Library.Function[0].NodeDef[2].Input = []string{"a", "a"}
		}, "y", []string{"recursive", `"outer"`}},
		{"tout mismatch", func(gd *graphpb.GraphDef) { gd.Node[3].Attr["Tout"] = typesAttr(tensor.Float32) }, "y", []string{"Tout", `"outer"`}},
		{"arity", func(gd *graphpb.GraphDef) { gd.Node[3].Input = []string{"x"} }, "y", []string{"1 data inputs", "2 input args"}},
		{"output index", func(gd *graphpb.GraphDef) {}, "call:2", []string{"no output 2"}},
		{"unknown output", func(gd *graphpb.GraphDef) {}, "zzz", []string{`no node "zzz"`}},
		{"bad const", func(gd *graphpb.GraphDef) {
			gd.Library.Function[1].NodeDef[2].Attr["value"].GetTensor().TensorContent = []byte{1}
		}, "y", []string{`"dim"`, "tensor_content"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gd := nestedGraph()
			c.edit(gd)
			_, err := FromGraphDef(gd, BuildOptions{Outputs: []string{c.out}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}
