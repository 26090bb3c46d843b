package tfengine_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	configpb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	_ "github.com/tbviz/tbviz/tfmodel/native/image"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/tfmodel/tfengine"
)

// standardOps are the ops a lowered graph may hold: TensorFlow ops with a
// CPU kernel and (except the shape plumbing) a C++ gradient.
var standardOps = map[string]bool{
	"Placeholder": true, "Const": true, "Identity": true, "Conv2D": true, "DepthwiseConv2dNative": true,
	"BiasAdd": true, "Relu": true, "Relu6": true, "LeakyRelu": true, "Elu": true, "Selu": true, "Sigmoid": true,
	"Tanh": true, "Softplus": true, "MaxPool": true, "AvgPool": true, "Mean": true, "Pad": true,
	"FusedBatchNormV3": true, "MatMul": true, "Softmax": true, "Reshape": true, "Squeeze": true, "AddV2": true,
	"Add": true, "Mul": true, "Sub": true, "RealDiv": true, "ResizeBilinear": true, "Shape": true,
	"StridedSlice": true, "Pack": true, "ConcatV2": true, "Transpose": true, "Maximum": true, "Minimum": true,
	"Rsqrt": true, "Sqrt": true, "Exp": true, "Log": true, "Sum": true, "Max": true, "Cast": true,
	"ExpandDims": true, "Slice": true, "Square": true, "Neg": true, "ResizeNearestNeighbor": true,
	"MirrorPad": true, "PadV2": true, "Tile": true, "GatherV2": true, "Fill": true, "Prod": true,
	"SquaredDifference": true, "Unpack": true, "Split": true, "SplitV": true, "Floor": true, "Abs": true,
	"Sign": true, "Greater": true, "Less": true, "Select": true, "SelectV2": true, "Round": true, "Relu6Grad": true,
}

// randInput returns a float32 input for a signature input, batch 1 and
// unknown dimensions set to 8.
func randInput(in tfmodel.TensorInfo, seed uint64) *tensor.Tensor {
	shape := []int{1}
	for _, d := range in.Shape[1:] {
		if d < 0 {
			d = 8
		}
		shape = append(shape, d)
	}
	x := tensor.New(tensor.Float32, shape...)
	r := rand.New(rand.NewPCG(seed, 3))
	for i := range x.F32 {
		x.F32[i] = r.Float32()
	}
	return x
}

func runNative(t *testing.T, g *graph.Graph, feeds map[string]*tensor.Tensor, fetches []string) []*tensor.Tensor {
	t.Helper()
	e, err := native.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res, err := e.Run(context.Background(), feeds, fetches)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rebuild reads a Program's GraphDef back into the IR.
func rebuild(t *testing.T, p *tfengine.Program, outputs, feeds []string) *graph.Graph {
	t.Helper()
	g, err := graph.FromGraphDef(p.GraphDef, graph.BuildOptions{Outputs: outputs, Feeds: feeds})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func maxAbsDiff(t *testing.T, a, b *tensor.Tensor) (diff, ref float64) {
	t.Helper()
	if !slices.Equal(a.Shape, b.Shape) {
		t.Fatalf("shapes %v and %v differ", a.Shape, b.Shape)
	}
	for i := range a.Len() {
		diff = max(diff, math.Abs(a.Float(i)-b.Float(i)))
		ref = max(ref, math.Abs(b.Float(i)))
	}
	return diff, ref
}

// TestLowerModels lowers every shared SavedModel and every TF.js
// graph-model, checks that only standard TensorFlow ops remain (the fused
// TF.js ops split, variables as Consts), and runs the lowered graph and the
// original with the native engine: the split ops (native Conv2D, BiasAdd,
// activation kernels) must agree with the fused kernels within the TF.js
// oracle tolerance, and with the unfused SavedModels bit for bit.
func TestLowerModels(t *testing.T) {
	var dirs []string
	if root := testenv.SharedModelsDir(); true {
		es, _ := os.ReadDir(root)
		for _, e := range es {
			if _, err := os.Stat(filepath.Join(root, e.Name(), "saved_model.pb")); err == nil {
				dirs = append(dirs, filepath.Join(root, e.Name()))
			}
		}
	}
	if gm := filepath.Join(testenv.RepoRoot(), ".deps", "graphmodels"); true {
		es, _ := os.ReadDir(gm)
		for _, e := range es {
			if _, err := os.Stat(filepath.Join(gm, e.Name(), "model.json")); err == nil {
				dirs = append(dirs, filepath.Join(gm, e.Name()))
			}
		}
	}
	if len(dirs) == 0 {
		t.Skip("no shared models and no TF.js graph-models (run `make setup`)")
	}
	for k, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := tfmodel.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := tfengine.Lower(m.Graph, tfengine.LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fused := 0
			for _, n := range m.Graph.Nodes {
				if strings.Contains(n.Op, "Fused") && n.Op != "FusedBatchNormV3" {
					fused++
				}
			}
			for _, n := range p.GraphDef.GetNode() {
				if !standardOps[n.GetOp()] {
					t.Errorf("lowered node %s has op %s", n.GetName(), n.GetOp())
				}
			}
			var feeds []string
			fd := map[string]*tensor.Tensor{}
			for i, in := range m.Signature.Inputs {
				if in.DType != tensor.Float32 {
					t.Skipf("input %s is %v", in.Key, in.DType)
				}
				feeds = append(feeds, in.Tensor)
				fd[in.Tensor] = randInput(in, uint64(10*k+i))
			}
			var outs, lowered []string
			for _, o := range m.Signature.Outputs {
				outs = append(outs, o.Tensor)
				name, err := p.Tensor(o.Tensor)
				if err != nil {
					t.Fatal(err)
				}
				lowered = append(lowered, name)
			}
			g2 := rebuild(t, p, lowered, feeds)
			want := runNative(t, m.Graph, fd, outs)
			got := runNative(t, g2, fd, lowered)
			for i := range want {
				d, ref := maxAbsDiff(t, got[i], want[i])
				if fused == 0 && d != 0 {
					t.Errorf("output %s: lowered graph differs by %g without fused ops", outs[i], d)
				}
				if d > 1e-4*ref {
					t.Errorf("output %s: max abs diff %g > 1e-4 × %g", outs[i], d, ref)
				}
			}
			t.Logf("%d nodes, %d fused split, %d lowered nodes", len(m.Graph.Nodes), fused, len(p.GraphDef.GetNode()))
		})
	}
}

func f32() *attrpb.AttrValue { return graph.TypeAttr(tensor.Float32) }

// chain is x → a = Relu(x) → b = IdentityN(a, x) → c = AddV2(b:0, b:1) →
// d = Mul(c, c).
func chain(t *testing.T) *graph.Graph {
	t.Helper()
	x := &graph.Node{Name: "x", Op: "Placeholder", NumOutputs: 1, Attrs: map[string]*attrpb.AttrValue{"dtype": f32()}}
	a := &graph.Node{Name: "a", Op: "Relu", NumOutputs: 1, Inputs: []graph.Endpoint{x.Output(0)}, Attrs: map[string]*attrpb.AttrValue{"T": f32()}}
	types := &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{Type: []typespb.DataType{tensor.ProtoDType(tensor.Float32), tensor.ProtoDType(tensor.Float32)}}}}
	b := &graph.Node{Name: "b", Op: "IdentityN", NumOutputs: 2, Inputs: []graph.Endpoint{a.Output(0), x.Output(0)}, Attrs: map[string]*attrpb.AttrValue{"T": types}}
	c := &graph.Node{Name: "c", Op: "AddV2", NumOutputs: 1, Inputs: []graph.Endpoint{b.Output(0), b.Output(1)}, Attrs: map[string]*attrpb.AttrValue{"T": f32()}}
	d := &graph.Node{Name: "d", Op: "Mul", NumOutputs: 1, Inputs: []graph.Endpoint{c.Output(0), c.Output(0)}, Attrs: map[string]*attrpb.AttrValue{"T": f32()}}
	g, err := graph.New([]*graph.Node{x, a, b, c, d})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestLowerSplitsIdentityN(t *testing.T) {
	g := chain(t)
	p, err := tfengine.Lower(g, tfengine.LowerOptions{Device: "/device:GPU:0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.GraphDef.GetNode() {
		if n.GetOp() == "IdentityN" {
			t.Errorf("IdentityN %s left in the lowered graph", n.GetName())
		}
		if n.GetDevice() != "/device:GPU:0" {
			t.Errorf("node %s on device %q", n.GetName(), n.GetDevice())
		}
	}
	for name, want := range map[string]string{"b": "b/tbviz_out_0", "b:1": "b/tbviz_out_1", "c": "c", "x": "x"} {
		got, err := p.Tensor(name)
		if err != nil || got != want {
			t.Errorf("Tensor(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := p.Tensor("cc"); err == nil || !strings.Contains(err.Error(), "c") {
		t.Errorf("Tensor(cc): error %v, want one suggesting c", err)
	}
	x := tensor.FromFloat32([]float32{-2, -0.5, 0, 1.5}, 4)
	g2 := rebuild(t, p, []string{"d", "b/tbviz_out_1"}, []string{"x"})
	got := runNative(t, g2, map[string]*tensor.Tensor{"x": x}, []string{"d", "b/tbviz_out_1"})
	// d = (relu(x) + x)²
	for i, v := range x.F32 {
		s := max(v, 0) + v
		if got[0].F32[i] != s*s {
			t.Errorf("d[%d] = %v, want %v", i, got[0].F32[i], s*s)
		}
	}
	if !slices.Equal(got[1].F32, x.F32) {
		t.Errorf("b:1 = %v, want x", got[1].F32)
	}
}

func TestLowerCutsFeeds(t *testing.T) {
	g := chain(t)
	p, err := tfengine.Lower(g, tfengine.LowerOptions{Feeds: map[string]tensor.DType{"c": tensor.Float32}, Outputs: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range p.GraphDef.GetNode() {
		names = append(names, n.GetName()+"="+n.GetOp())
	}
	slices.Sort(names)
	if want := []string{"d=Mul", "tbviz_feed/0=Placeholder"}; !slices.Equal(names, want) {
		t.Fatalf("lowered nodes %v, want %v", names, want)
	}
	ph, err := p.Tensor("c")
	if err != nil || ph != "tbviz_feed/0" {
		t.Fatalf("Tensor(c) = %q, %v", ph, err)
	}
	for _, bad := range []tfengine.LowerOptions{
		{Feeds: map[string]tensor.DType{"nope": tensor.Float32}},
		{Outputs: []string{"d:3"}},
		{Feeds: map[string]tensor.DType{"c": tensor.Invalid}},
	} {
		if _, err := tfengine.Lower(g, bad); err == nil {
			t.Errorf("Lower(%+v): no error", bad)
		}
	}
}

func fusedNode(name, op string, inputs []string, ops ...string) *nodepb.NodeDef {
	return &nodepb.NodeDef{Name: name, Op: op, Input: inputs, Attr: map[string]*attrpb.AttrValue{
		"T": f32(), "fused_ops": graph.StringsAttr(ops...), "num_args": graph.IntAttr(len(inputs) - 2),
		"strides": graph.IntsAttr(1, 1, 1, 1), "padding": graph.StringAttr("SAME"), "leakyrelu_alpha": graph.FloatAttr(0.1),
	}}
}

// TestLowerUnfuseErrors checks that unsupported fused ops are refused with
// the node named.
func TestLowerUnfuseErrors(t *testing.T) {
	for _, tc := range []struct {
		ops  []string
		args int
		want string
	}{
		{[]string{"BiasAdd", "Prelu"}, 2, "Prelu"},
		{[]string{"BiasAdd"}, 2, "extra inputs"},
		{[]string{"Foo"}, 1, "unsupported fused_ops"},
		{[]string{"BiasAdd", "Relu", "Relu"}, 1, "more than one activation"},
	} {
		inputs := []string{"x", "w"}
		for i := range tc.args {
			inputs = append(inputs, "a"+string(rune('0'+i)))
		}
		gd := &graphpb.GraphDef{Node: []*nodepb.NodeDef{
			{Name: "x", Op: "Placeholder", Attr: map[string]*attrpb.AttrValue{"dtype": f32()}},
			constDef("w"), constDef("a0"), constDef("a1"),
			fusedNode("conv", "_FusedConv2D", inputs, tc.ops...),
		}}
		g, err := graph.FromGraphDef(gd, graph.BuildOptions{Outputs: []string{"conv"}, Feeds: []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tfengine.Lower(g, tfengine.LowerOptions{})
		if err == nil || !strings.Contains(err.Error(), "conv (_FusedConv2D)") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fused_ops %q with %d args: error %v, want one naming conv and %q", tc.ops, tc.args, err, tc.want)
		}
	}
}

func constDef(name string) *nodepb.NodeDef {
	v := tensor.FromFloat32([]float32{1}, 1)
	return &nodepb.NodeDef{Name: name, Op: "Const", Attr: map[string]*attrpb.AttrValue{
		"dtype": f32(), "value": {Value: &attrpb.AttrValue_Tensor{Tensor: v.Proto()}},
	}}
}

func TestNormalizeDevice(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "cpu": "/device:CPU:0", "CPU": "/device:CPU:0", "gpu": "/device:GPU:0", "gpu:1": "/device:GPU:1",
		"/GPU:0": "/device:GPU:0", "/device:GPU:2": "/device:GPU:2",
		"/job:localhost/replica:0/task:0/device:GPU:0": "/job:localhost/replica:0/task:0/device:GPU:0",
	} {
		got, err := tfengine.NormalizeDevice(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDevice(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"gpu:x", "gpu:-1", "/", "a b"} {
		if _, err := tfengine.NormalizeDevice(bad); err == nil {
			t.Errorf("NormalizeDevice(%q): no error", bad)
		}
	}
}

func TestSessionConfig(t *testing.T) {
	b, err := tfengine.SessionConfig(tfengine.Options{LogDevicePlacement: true, IntraOpThreads: 3})
	if err != nil {
		t.Fatal(err)
	}
	var c configpb.ConfigProto
	if err := proto.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if !c.AllowSoftPlacement || !c.LogDevicePlacement || c.IntraOpParallelismThreads != 3 || !c.GetGpuOptions().GetAllowGrowth() {
		t.Errorf("config %v", &c)
	}
	if _, err := tfengine.SessionConfig(tfengine.Options{InterOpThreads: -1}); err == nil {
		t.Error("negative threads: no error")
	}
}
