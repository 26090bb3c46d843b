package cam

import (
	"math/rand/v2"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// builder assembles small Keras-like graphs by hand (test fixtures).
type builder struct {
	t     testing.TB
	nodes []*graph.Node
	by    map[string]*graph.Node
	rng   *rand.Rand
}

type attrs = map[string]*attrpb.AttrValue

func newBuilder(t testing.TB) *builder {
	return &builder{t: t, by: map[string]*graph.Node{}, rng: rand.New(rand.NewPCG(1, 2))}
}

func shapeAttr(shape ...int) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Shape{Shape: tensor.ShapeProto(shape)}}
}

func (b *builder) add(n *graph.Node) *graph.Node {
	if n.NumOutputs == 0 {
		n.NumOutputs = 1
	}
	if n.Attrs == nil {
		n.Attrs = attrs{}
	}
	b.nodes = append(b.nodes, n)
	b.by[n.Name] = n
	return n
}

func (b *builder) placeholder(name string, shape ...int) {
	b.add(&graph.Node{Name: name, Op: "Placeholder", Attrs: attrs{"dtype": graph.TypeAttr(tensor.Float32), "shape": shapeAttr(shape...)}})
}

func (b *builder) constant(name string, v *tensor.Tensor) {
	b.add(&graph.Node{Name: name, Op: "Const", Value: v, Attrs: attrs{"dtype": graph.TypeAttr(v.DType)}})
}

// variable adds a bound variable read as the loader builds it: a
// VarHandleOp "<name>/resource" holding the value, read by the
// ReadVariableOp <name>.
func (b *builder) variable(name string, shape ...int) {
	v := tensor.New(tensor.Float32, shape...)
	for i := range v.F32 {
		v.F32[i] = float32(b.rng.NormFloat64() * 0.5)
	}
	b.add(&graph.Node{Name: name + "/resource", Op: "VarHandleOp", Value: v, VarKey: name + "/.ATTRIBUTES/VARIABLE_VALUE",
		Attrs: attrs{"dtype": graph.TypeAttr(tensor.Float32), "shape": shapeAttr(shape...)}})
	b.add(&graph.Node{Name: name, Op: "ReadVariableOp", Inputs: []graph.Endpoint{b.by[name+"/resource"].Output(0)},
		Attrs: attrs{"dtype": graph.TypeAttr(tensor.Float32)}})
}

func (b *builder) op(name, op string, a attrs, inputs ...string) {
	n := &graph.Node{Name: name, Op: op, Attrs: a}
	for _, in := range inputs {
		ep := b.endpoint(in)
		n.Inputs = append(n.Inputs, ep)
	}
	if a == nil {
		n.Attrs = attrs{}
	}
	n.Attrs["T"] = graph.TypeAttr(tensor.Float32)
	if op == "FusedBatchNormV3" {
		n.NumOutputs = 6
	}
	b.add(n)
}

func (b *builder) endpoint(name string) graph.Endpoint {
	nn, idx, err := graph.ParseTensorName(name)
	if err != nil {
		b.t.Fatal(err)
	}
	n := b.by[nn]
	if n == nil {
		b.t.Fatalf("builder: no node %q", nn)
	}
	return n.Output(idx)
}

func (b *builder) graph() *graph.Graph {
	g, err := graph.New(b.nodes)
	if err != nil {
		b.t.Fatal(err)
	}
	return g
}

func convAttrs(padding string) attrs {
	return attrs{
		"strides": graph.IntsAttr(1, 1, 1, 1), "padding": graph.StringAttr(padding),
		"data_format": graph.StringAttr("NHWC"), "dilations": graph.IntsAttr(1, 1, 1, 1),
	}
}

// conv adds a Conv2D (k×k, SAME) + BiasAdd + Relu scope.
func (b *builder) conv(scope, in string, k, cin, cout int) {
	b.variable(scope+"/Conv2D/ReadVariableOp", k, k, cin, cout)
	b.op(scope+"/Conv2D", "Conv2D", convAttrs("SAME"), in, scope+"/Conv2D/ReadVariableOp")
	b.variable(scope+"/BiasAdd/ReadVariableOp", cout)
	b.op(scope+"/BiasAdd", "BiasAdd", attrs{"data_format": graph.StringAttr("NHWC")}, scope+"/Conv2D", scope+"/BiasAdd/ReadVariableOp")
	b.op(scope+"/Relu", "Relu", nil, scope+"/BiasAdd")
}

// dense adds MatMul + BiasAdd (+ act).
func (b *builder) dense(scope, in string, nin, nout int, act string) {
	b.variable(scope+"/MatMul/ReadVariableOp", nin, nout)
	b.op(scope+"/MatMul", "MatMul", attrs{"transpose_a": graph.BoolAttr(false), "transpose_b": graph.BoolAttr(false)}, in, scope+"/MatMul/ReadVariableOp")
	b.variable(scope+"/BiasAdd/ReadVariableOp", nout)
	b.op(scope+"/BiasAdd", "BiasAdd", attrs{"data_format": graph.StringAttr("NHWC")}, scope+"/MatMul", scope+"/BiasAdd/ReadVariableOp")
	if act != "" {
		b.op(scope+"/"+act, act, nil, scope+"/BiasAdd")
	}
}

func (b *builder) gap(name, in string) {
	b.constant(name+"/reduction_indices", tensor.FromInt32([]int32{1, 2}, 2))
	b.op(name, "Mean", attrs{"keep_dims": graph.BoolAttr(false), "Tidx": graph.TypeAttr(tensor.Int32)}, in, name+"/reduction_indices")
}

func (b *builder) flatten(name, in string, n int) {
	b.constant(name+"/Const", tensor.FromInt32([]int32{-1, int32(n)}, 2))
	b.op(name, "Reshape", attrs{"Tshape": graph.TypeAttr(tensor.Int32)}, in, name+"/Const")
}

// Test graph layout shared by the engine tests.
const (
	gIn     = "input"
	gLayer  = "net/conv/Relu"
	gLogits = "net/dense/BiasAdd"
	gProbs  = "net/dense/Softmax"
	gH, gW  = 6, 6
	gC      = 2
	gK      = 4 // conv channels
	gClass  = 3
)

// gapNet: input [?,6,6,2] → conv 3×3 (4 ch, relu) → GAP → dense (4→3) →
// softmax. With flat, a Flatten (Reshape to [-1, 144]) replaces the GAP.
func gapNet(t testing.TB, flat bool) *builder {
	b := newBuilder(t)
	b.placeholder(gIn, -1, gH, gW, gC)
	b.conv("net/conv", gIn, 3, gC, gK)
	// Positive conv biases keep most units alive.
	for i := range b.by["net/conv/BiasAdd/ReadVariableOp/resource"].Value.F32 {
		b.by["net/conv/BiasAdd/ReadVariableOp/resource"].Value.F32[i] = 0.3
	}
	if flat {
		b.flatten("net/flatten/Reshape", gLayer, gH*gW*gK)
		b.dense("net/dense", "net/flatten/Reshape", gH*gW*gK, gClass, "Softmax")
	} else {
		b.gap("net/gap/Mean", gLayer)
		b.dense("net/dense", "net/gap/Mean", gK, gClass, "Softmax")
	}
	return b
}

func testImages(b, h, w, c int, seed uint64) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	t := tensor.New(tensor.Float32, b, h, w, c)
	for i := range t.F32 {
		t.F32[i] = float32(r.Float64())
	}
	return t
}
