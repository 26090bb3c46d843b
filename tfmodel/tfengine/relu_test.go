package tfengine_test

import (
	"slices"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tfengine"
)

// evalGD evaluates a GraphDef of Placeholders, Relu and the rectifier
// gradient ops elementwise, with TensorFlow's definitions of those ops
// (ReluGrad: dy·(x>0); Relu6Grad: dy·(0<x<6); LeakyReluGrad: dy·(x>0 ? 1 :
// alpha)).
func evalGD(t *testing.T, gd *graphpb.GraphDef, feeds map[string][]float64, fetch string) []float64 {
	t.Helper()
	nodes := map[string]*nodepb.NodeDef{}
	for _, n := range gd.GetNode() {
		nodes[n.GetName()] = n
	}
	memo := map[string][]float64{}
	var eval func(name string) []float64
	eval = func(name string) []float64 {
		if v, ok := memo[name]; ok {
			return v
		}
		n := nodes[name]
		if n == nil {
			t.Fatalf("no node %q", name)
		}
		var v []float64
		switch n.GetOp() {
		case "Placeholder":
			v = feeds[name]
		case "Relu":
			for _, a := range eval(n.GetInput()[0]) {
				v = append(v, max(a, 0))
			}
		case "ReluGrad", "Relu6Grad", "LeakyReluGrad":
			var in []string
			for _, s := range n.GetInput() {
				if !strings.HasPrefix(s, "^") {
					in = append(in, s)
				}
			}
			if len(in) != 2 {
				t.Fatalf("%s has inputs %v", name, n.GetInput())
			}
			dy, x := eval(in[0]), eval(in[1])
			for i := range dy {
				g := dy[i]
				switch n.GetOp() {
				case "ReluGrad":
					if !(x[i] > 0) {
						g = 0
					}
				case "Relu6Grad":
					if !(x[i] > 0 && x[i] < 6) {
						g = 0
					}
				case "LeakyReluGrad":
					if !(x[i] > 0) {
						g *= float64(n.GetAttr()["alpha"].GetF())
					}
				}
				v = append(v, g)
			}
		default:
			t.Fatalf("op %s not in the test evaluator", n.GetOp())
		}
		memo[name] = v
		return v
	}
	return eval(fetch)
}

func gradGraph() *graphpb.GraphDef {
	at := func(extra ...*attrpb.AttrValue) map[string]*attrpb.AttrValue {
		m := map[string]*attrpb.AttrValue{"T": f32()}
		if len(extra) > 0 {
			m["alpha"] = extra[0]
		}
		return m
	}
	ph := func(name string) *nodepb.NodeDef {
		return &nodepb.NodeDef{Name: name, Op: "Placeholder", Attr: map[string]*attrpb.AttrValue{"dtype": f32()}}
	}
	return &graphpb.GraphDef{Node: []*nodepb.NodeDef{
		ph("x"), ph("dy"),
		{Name: "fwd/Relu", Op: "Relu", Input: []string{"x"}, Attr: at()},
		// A forward-graph ReluGrad outside the prefix must stay as it is.
		{Name: "other/ReluGrad", Op: "ReluGrad", Input: []string{"dy", "x"}, Attr: at()},
		{Name: "g/ReluGrad", Op: "ReluGrad", Input: []string{"dy", "x"}, Attr: at()},
		{Name: "g/Relu6Grad", Op: "Relu6Grad", Input: []string{"dy", "x"}, Attr: at()},
		{Name: "g/LeakyReluGrad", Op: "LeakyReluGrad", Input: []string{"dy", "x", "^fwd/Relu"}, Attr: at(&attrpb.AttrValue{Value: &attrpb.AttrValue_F{F: 0.25}})},
	}}
}

// TestRewriteReluGrads checks the rewritten gradient ops against the rules
// as the papers (and the native engine) define them, written here as
// plain loops: guided = true gradient · [dy > 0]; deconv = max(dy, 0).
func TestRewriteReluGrads(t *testing.T) {
	x := []float64{-3, -1, 0, 0.5, 2, 5.5, 6, 7, -2, 3}
	dy := []float64{1, -1, 2, -2, 3, -3, 4, 1.5, -0.5, 0.25}
	feeds := map[string][]float64{"x": x, "dy": dy}
	truth := func(op string, i int) float64 {
		switch op {
		case "ReluGrad":
			if x[i] > 0 {
				return dy[i]
			}
		case "Relu6Grad":
			if x[i] > 0 && x[i] < 6 {
				return dy[i]
			}
		case "LeakyReluGrad":
			if x[i] > 0 {
				return dy[i]
			}
			return 0.25 * dy[i]
		}
		return 0
	}
	for _, mode := range []engine.ReluMode{engine.ReluNormal, engine.ReluGuided, engine.ReluDeconv} {
		gd := gradGraph()
		n, err := tfengine.RewriteReluGrads(gd, "g", mode)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[engine.ReluMode]int{engine.ReluNormal: 0, engine.ReluGuided: 3, engine.ReluDeconv: 3}[mode]; n != want {
			t.Errorf("%v: %d ops rewritten, want %d", mode, n, want)
		}
		for _, op := range []string{"ReluGrad", "Relu6Grad", "LeakyReluGrad"} {
			got := evalGD(t, gd, feeds, "g/"+op)
			want := make([]float64, len(x))
			for i := range x {
				switch mode {
				case engine.ReluNormal:
					want[i] = truth(op, i)
				case engine.ReluGuided:
					if dy[i] > 0 {
						want[i] = truth(op, i)
					}
				case engine.ReluDeconv:
					want[i] = max(dy[i], 0)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%v %s:\n got %v\nwant %v", mode, op, got, want)
			}
		}
		if got := evalGD(t, gd, feeds, "other/ReluGrad"); !slices.Equal(got, []float64{0, 0, 0, -2, 3, -3, 4, 1.5, 0, 0.25}) {
			t.Errorf("%v: ReluGrad outside the prefix changed: %v", mode, got)
		}
		for _, nd := range gd.GetNode() {
			if nd.GetName() == "g/LeakyReluGrad" && !slices.Contains(nd.GetInput(), "^fwd/Relu") {
				t.Errorf("%v: control input of g/LeakyReluGrad dropped: %v", mode, nd.GetInput())
			}
		}
	}
}

func TestRewriteReluGradsErrors(t *testing.T) {
	if _, err := tfengine.RewriteReluGrads(nil, "g", engine.ReluGuided); err == nil {
		t.Error("nil GraphDef: no error")
	}
	if _, err := tfengine.RewriteReluGrads(gradGraph(), "", engine.ReluGuided); err == nil {
		t.Error("empty prefix: no error")
	}
	if _, err := tfengine.RewriteReluGrads(gradGraph(), "g", engine.ReluMode(9)); err == nil {
		t.Error("bad mode: no error")
	}
	gd := gradGraph()
	gd.Node[4].Input = gd.Node[4].Input[:1]
	if _, err := tfengine.RewriteReluGrads(gd, "g", engine.ReluDeconv); err == nil {
		t.Error("one-input ReluGrad: no error")
	}
}

func TestReachable(t *testing.T) {
	// x → conv → relu → flat = Reshape(relu, Pack(StridedSlice(Shape(relu)))) → y
	// z → Shape only; w unrelated; i is an int input of Reshape.
	nd := func(name, op string, in ...string) *nodepb.NodeDef {
		return &nodepb.NodeDef{Name: name, Op: op, Input: in}
	}
	gd := &graphpb.GraphDef{Node: []*nodepb.NodeDef{
		nd("x", "Placeholder"), nd("z", "Placeholder"), nd("w", "Placeholder"), nd("k", "Const"),
		nd("conv", "Conv2D", "x", "k"), nd("relu", "Relu", "conv"),
		nd("shape", "Shape", "relu"), nd("zs", "Shape", "z"), nd("ss", "StridedSlice", "shape", "zs"),
		nd("pack", "Pack", "ss"), nd("flat", "Reshape", "relu", "pack"), nd("y", "Identity", "flat", "^w"),
		nd("multi", "Split", "k", "x"), nd("y2", "Identity", "multi:1"),
	}}
	ints := map[string]bool{"shape:0": true, "zs:0": true, "ss:0": true, "pack:0": true}
	diff := func(t string) bool { return !ints[t] }
	got, err := tfengine.Reachable(gd, []string{"y", "y2"}, []string{"x", "conv", "relu:0", "z", "w", "k", "pack", "multi:0", "multi:1"}, diff)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, true, false, false, true, false, false, true}
	if !slices.Equal(got, want) {
		t.Errorf("Reachable = %v, want %v", got, want)
	}
	if _, err := tfengine.Reachable(gd, []string{"nope"}, nil, nil); err == nil {
		t.Error("unknown target: no error")
	}
	if _, err := tfengine.Reachable(gd, []string{"y"}, []string{"nope:1"}, nil); err == nil {
		t.Error("unknown wrt: no error")
	}
}
