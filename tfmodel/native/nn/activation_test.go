package nn

import (
	"math"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// cvActRef is each activation written plainly from its definition.
var cvActRef = map[string]func(x float64) float64{
	"Relu":  func(x float64) float64 { return math.Max(x, 0) },
	"Relu6": func(x float64) float64 { return math.Min(math.Max(x, 0), 6) },
	"Elu": func(x float64) float64 {
		if x > 0 {
			return x
		}
		return math.Exp(x) - 1
	},
	"Selu": func(x float64) float64 {
		if x > 0 {
			return 1.0507009873554805 * x
		}
		return 1.0507009873554805 * 1.6732632423543772 * (math.Exp(x) - 1)
	},
	"LeakyRelu": func(x float64) float64 {
		if x > 0 {
			return x
		}
		return float64(float32(0.3)) * x // attrs are float32
	},
	"Sigmoid":  func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
	"Tanh":     math.Tanh,
	"Softplus": func(x float64) float64 { return math.Log(1 + math.Exp(x)) },
}

// cvAwayFromKinks returns random values in [-8, 8] with none within 0.05
// of 0 or 6 (the ReLU and ReLU6 kinks).
func cvAwayFromKinks(seed uint64, shape ...int) *tensor.Tensor {
	x := kerneltest.Rand(seed, -8, 8, shape...)
	for i, v := range x.F64 {
		for _, k := range []float64{0, 6} {
			if math.Abs(v-k) < 0.05 {
				x.F64[i] = k + 0.1
			}
		}
	}
	return x
}

func cvActNode(op string) *graph.Node {
	a := map[string]*attrpb.AttrValue{}
	if op == "LeakyRelu" {
		a["alpha"] = graph.FloatAttr(0.3)
	}
	return kerneltest.Node(op, 1, a)
}

func TestActivationsForwardAndGrad(t *testing.T) {
	for op, ref := range cvActRef {
		t.Run(op, func(t *testing.T) {
			x := cvAwayFromKinks(11, 3, 4, 5)
			x.F64[0], x.F64[1] = -30, 30 // saturated tails
			node := cvActNode(op)
			y := kerneltest.MustForward(t, node, x)[0]
			want := make([]float64, x.Len())
			for i, v := range x.F64 {
				want[i] = ref(v)
			}
			cvAssertClose(t, "float64", y.F64, want, 1e-12)
			y32 := kerneltest.MustForward(t, node, cvF32(x))[0]
			cvAssertClose(t, "float32", y32.Float64s(), want, 1e-5)
			for _, mode := range []engine.ReluMode{engine.ReluNormal} {
				kerneltest.CheckGrad(t, node, []*tensor.Tensor{x}, kerneltest.GradOptions{Relu: mode, Seed: 3})
			}
		})
	}
}

// TestLeakyReluNegativeAlphaGrad covers a slope whose sign makes the
// output ambiguous: the kernel keeps its input.
func TestLeakyReluNegativeAlphaGrad(t *testing.T) {
	node := kerneltest.Node("LeakyRelu", 1, map[string]*attrpb.AttrValue{"alpha": graph.FloatAttr(-0.5)})
	kerneltest.CheckGrad(t, node, []*tensor.Tensor{cvAwayFromKinks(5, 20)}, kerneltest.GradOptions{})
}

func TestSoftplusGradSmallOutputs(t *testing.T) {
	// Softplus backward from its output must stay accurate where the
	// output is tiny (very negative inputs).
	x := tensor.FromFloat32([]float32{-30, -20, -10, 0.5, 15}, 5)
	node := cvActNode("Softplus")
	y := kerneltest.MustForward(t, node, x)[0]
	d, _ := kernel.Lookup("Softplus")
	dy := tensor.FromFloat32([]float32{1, 1, 1, 1, 1}, 5)
	g, err := d.Backward(&kernel.Context{Node: node}, []*tensor.Tensor{nil}, []*tensor.Tensor{y}, []*tensor.Tensor{dy})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x.F32 {
		want := 1 / (1 + math.Exp(-float64(v)))
		if got := float64(g[0].F32[i]); math.Abs(got-want) > 1e-5*want+1e-30 {
			t.Errorf("softplus'(%g) = %g, want %g", v, got, want)
		}
	}
}

// cvBackward runs an op's backward with exactly what its Def keeps.
func cvBackward(t *testing.T, node *graph.Node, mode engine.ReluMode, in, dout []*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	d, _ := kernel.Lookup(node.Op)
	c := &kernel.Context{Node: node, Relu: mode}
	out, err := d.Forward(c, in)
	if err != nil {
		t.Fatal(err)
	}
	kin := make([]*tensor.Tensor, len(in))
	if d.KeepInputs == nil {
		copy(kin, in)
	}
	for _, i := range d.KeepInputs {
		kin[i] = in[i]
	}
	kout := make([]*tensor.Tensor, len(out))
	for _, i := range d.KeepOutputs {
		kout[i] = out[i]
	}
	g, err := d.Backward(c, kin, kout, dout)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestReluModes checks the guided and deconv rules on hand-computed
// examples.
func TestReluModes(t *testing.T) {
	dy := []float64{1, -1, 2, -3, 0.5}
	cases := []struct {
		op                    string
		x                     []float64
		normal, guided, decon []float64
	}{
		{"Relu", []float64{-1, 2, 3, -4, 5},
			[]float64{0, -1, 2, 0, 0.5}, []float64{0, 0, 2, 0, 0.5}, []float64{1, 0, 2, 0, 0.5}},
		{"Relu6", []float64{-1, 2, 7, 5, 6.5},
			[]float64{0, -1, 0, -3, 0}, []float64{0, 0, 0, 0, 0}, []float64{1, 0, 2, 0, 0.5}},
		{"LeakyRelu", []float64{-1, 2, 3, -4, -5}, // alpha 0.3
			[]float64{0.3, -1, 2, -0.9, 0.15}, []float64{0.3, 0, 2, 0, 0.15}, []float64{1, 0, 2, 0, 0.5}},
	}
	for _, tc := range cases {
		for _, m := range []struct {
			mode engine.ReluMode
			want []float64
		}{{engine.ReluNormal, tc.normal}, {engine.ReluGuided, tc.guided}, {engine.ReluDeconv, tc.decon}} {
			for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
				x, _ := tensor.FromFloat64(append([]float64(nil), tc.x...), 5).Cast(dt)
				g, _ := tensor.FromFloat64(append([]float64(nil), dy...), 5).Cast(dt)
				got := cvBackward(t, cvActNode(tc.op), m.mode, []*tensor.Tensor{x}, []*tensor.Tensor{g})[0]
				cvAssertClose(t, tc.op+" "+m.mode.String()+" "+dt.String(), got.Float64s(), m.want, 1e-7)
			}
		}
	}
	// Non-rectifiers ignore the mode.
	x := tensor.FromFloat64([]float64{-1, 2}, 2)
	g1 := cvBackward(t, cvActNode("Elu"), engine.ReluNormal, []*tensor.Tensor{x}, []*tensor.Tensor{tensor.FromFloat64([]float64{-1, -1}, 2)})[0]
	g2 := cvBackward(t, cvActNode("Elu"), engine.ReluDeconv, []*tensor.Tensor{x}, []*tensor.Tensor{tensor.FromFloat64([]float64{-1, -1}, 2)})[0]
	cvAssertClose(t, "Elu deconv", g2.F64, g1.F64, 0)
	cvAssertClose(t, "Elu", g1.F64, []float64{-math.Exp(-1), -1}, 1e-12)
}

func TestPrelu(t *testing.T) {
	x := cvAwayFromKinks(7, 2, 3, 4)
	alpha := kerneltest.Rand(8, -0.5, 0.5, 1, 4)
	node := kerneltest.Node("Prelu", 1, nil)
	y := kerneltest.MustForward(t, node, x, alpha)[0]
	for i, v := range x.F64 {
		want := v
		if v < 0 {
			want = alpha.F64[i%4] * v
		}
		if y.F64[i] != want {
			t.Fatalf("prelu[%d] = %g, want %g", i, y.F64[i], want)
		}
	}
	kerneltest.CheckGrad(t, node, []*tensor.Tensor{x, alpha}, kerneltest.GradOptions{})
	if _, err := kerneltest.Forward(node, x, kerneltest.Rand(8, 0, 1, 3)); err == nil || !strings.Contains(err.Error(), "Prelu") {
		t.Errorf("mismatched slopes: error %v", err)
	}
}

func TestActivationBadInput(t *testing.T) {
	x := tensor.FromInt32([]int32{1, 2}, 2)
	if _, err := kerneltest.Forward(cvActNode("Relu"), x); err == nil || !strings.Contains(err.Error(), "int32") {
		t.Errorf("int32 input: error %v", err)
	}
	bad := kerneltest.Node("LeakyRelu", 1, map[string]*attrpb.AttrValue{"alpha": graph.StringAttr("x")})
	if _, err := kerneltest.Forward(bad, tensor.FromFloat64([]float64{1}, 1)); err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Errorf("bad alpha: error %v", err)
	}
}

func TestBiasAdd(t *testing.T) {
	x := kerneltest.Rand(1, -1, 1, 2, 3, 4)
	b := kerneltest.Rand(2, -1, 1, 4)
	node := kerneltest.Node("BiasAdd", 1, map[string]*attrpb.AttrValue{"data_format": graph.StringAttr("NHWC")})
	y := kerneltest.MustForward(t, node, x, b)[0]
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				idx := (i*3+j)*4 + k
				if y.F64[idx] != x.F64[idx]+b.F64[k] {
					t.Fatalf("y[%d] = %g, want %g", idx, y.F64[idx], x.F64[idx]+b.F64[k])
				}
			}
		}
	}
	kerneltest.CheckGrad(t, node, []*tensor.Tensor{x, b}, kerneltest.GradOptions{})
	y32 := kerneltest.MustForward(t, node, cvF32(x), cvF32(b))[0]
	cvAssertClose(t, "float32", y32.Float64s(), y.F64, 1e-6)
	for _, tc := range []struct {
		name   string
		node   *graph.Node
		b      *tensor.Tensor
		substr string
	}{
		{"nchw", kerneltest.Node("BiasAdd", 1, map[string]*attrpb.AttrValue{"data_format": graph.StringAttr("NCHW")}), b, "NCHW"},
		{"shape", node, kerneltest.Rand(2, -1, 1, 3), "bias"},
		{"dtype", node, cvF32(b), "float32"},
	} {
		if _, err := kerneltest.Forward(tc.node, x, tc.b); err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.substr)
		}
	}
}
