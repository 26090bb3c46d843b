package layers

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

// variable adds a bound variable read with random values.
func (b *builder) variable(name string, shape ...int) {
	v := tensor.New(tensor.Float32, shape...)
	for i := range v.F32 {
		v.F32[i] = float32(b.rng.NormFloat64() * 0.5)
	}
	b.add(&graph.Node{Name: name, Op: "ReadVariableOp", Value: v, VarKey: name + "/.ATTRIBUTES/VARIABLE_VALUE"})
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

func poolAttrs(k int) attrs {
	return attrs{
		"ksize": graph.IntsAttr(1, k, k, 1), "strides": graph.IntsAttr(1, k, k, 1),
		"padding": graph.StringAttr("VALID"), "data_format": graph.StringAttr("NHWC"),
	}
}

// conv adds a Keras Conv2D layer scope (kernel k×k, same padding, ReLU).
func (b *builder) conv(scope, in string, k, cin, cout int) {
	b.variable(scope+"/Conv2D/ReadVariableOp", k, k, cin, cout)
	b.op(scope+"/Conv2D", "Conv2D", convAttrs("SAME"), in, scope+"/Conv2D/ReadVariableOp")
	b.variable(scope+"/BiasAdd/ReadVariableOp", cout)
	b.op(scope+"/BiasAdd", "BiasAdd", attrs{"data_format": graph.StringAttr("NHWC")}, scope+"/Conv2D", scope+"/BiasAdd/ReadVariableOp")
	b.op(scope+"/Relu", "Relu", nil, scope+"/BiasAdd")
}

// bn adds a Keras BatchNormalization scope (inference) over c channels.
func (b *builder) bn(scope, in string, c int) {
	b.variable(scope+"/ReadVariableOp", c)
	b.variable(scope+"/ReadVariableOp_1", c)
	b.variable(scope+"/FusedBatchNormV3/ReadVariableOp", c)
	b.variable(scope+"/FusedBatchNormV3/ReadVariableOp_1", c)
	// Variances must be positive.
	for i, v := range b.by[scope+"/FusedBatchNormV3/ReadVariableOp_1"].Value.F32 {
		b.by[scope+"/FusedBatchNormV3/ReadVariableOp_1"].Value.F32[i] = v*v + 0.5
	}
	b.op(scope+"/FusedBatchNormV3", "FusedBatchNormV3", attrs{
		"epsilon": graph.FloatAttr(0.001), "is_training": graph.BoolAttr(false),
		"data_format": graph.StringAttr("NHWC"), "U": graph.TypeAttr(tensor.Float32),
		"exponential_avg_factor": graph.FloatAttr(1),
	}, in, scope+"/ReadVariableOp", scope+"/ReadVariableOp_1",
		scope+"/FusedBatchNormV3/ReadVariableOp", scope+"/FusedBatchNormV3/ReadVariableOp_1")
}

// dense adds a Keras Dense scope; act is "Relu", "Softmax" or "".
func (b *builder) dense(scope, in string, nin, nout int, act string) {
	b.variable(scope+"/MatMul/ReadVariableOp", nin, nout)
	b.op(scope+"/MatMul", "MatMul", attrs{"transpose_a": graph.BoolAttr(false), "transpose_b": graph.BoolAttr(false)}, in, scope+"/MatMul/ReadVariableOp")
	b.variable(scope+"/BiasAdd/ReadVariableOp", nout)
	b.op(scope+"/BiasAdd", "BiasAdd", attrs{"data_format": graph.StringAttr("NHWC")}, scope+"/MatMul", scope+"/BiasAdd/ReadVariableOp")
	if act != "" {
		b.op(scope+"/"+act, act, nil, scope+"/BiasAdd")
	}
}

// kerasCNN builds, for an 8×8×1 input:
//
//	seq/conv2d (3×3, 2 ch, relu) → seq/batch_normalization → seq/max_pooling2d (→4×4)
//	→ seq/conv2d_1 (3×3, 3 ch, relu) → [seq/batch_normalization_1 if bnLast]
//	→ seq/max_pooling2d_1 (→2×2) → seq/flatten → seq/dense (12→5, relu)
//	→ seq/dense_1 (5→4, softmax) → Identity
//
// or, with gap, seq/global_average_pooling2d (Mean over 1,2) instead of the
// last pooling and flatten (3→5).
func kerasCNN(t testing.TB, bnLast, gap bool) *graph.Graph {
	b := newBuilder(t)
	b.placeholder("input_1", -1, 8, 8, 1)
	b.conv("seq/conv2d", "input_1", 3, 1, 2)
	b.bn("seq/batch_normalization", "seq/conv2d/Relu", 2)
	b.op("seq/max_pooling2d/MaxPool", "MaxPool", poolAttrs(2), "seq/batch_normalization/FusedBatchNormV3")
	b.conv("seq/conv2d_1", "seq/max_pooling2d/MaxPool", 3, 2, 3)
	last := "seq/conv2d_1/Relu"
	if bnLast {
		b.bn("seq/batch_normalization_1", last, 3)
		last = "seq/batch_normalization_1/FusedBatchNormV3"
	}
	flat := 12
	if gap {
		b.constant("seq/global_average_pooling2d/Mean/reduction_indices", tensor.FromInt32([]int32{1, 2}, 2))
		b.op("seq/global_average_pooling2d/Mean", "Mean", attrs{"keep_dims": graph.BoolAttr(false), "Tidx": graph.TypeAttr(tensor.Int32)},
			last, "seq/global_average_pooling2d/Mean/reduction_indices")
		last, flat = "seq/global_average_pooling2d/Mean", 3
	} else {
		b.op("seq/max_pooling2d_1/MaxPool", "MaxPool", poolAttrs(2), last)
		b.constant("seq/flatten/Const", tensor.FromInt32([]int32{-1, 12}, 2))
		b.op("seq/flatten/Reshape", "Reshape", attrs{"Tshape": graph.TypeAttr(tensor.Int32)}, "seq/max_pooling2d_1/MaxPool", "seq/flatten/Const")
		last = "seq/flatten/Reshape"
	}
	b.dense("seq/dense", last, flat, 5, "Relu")
	b.dense("seq/dense_1", "seq/dense/Relu", 5, 4, "Softmax")
	b.op("Identity", "Identity", nil, "seq/dense_1/Softmax")
	return b.graph()
}
