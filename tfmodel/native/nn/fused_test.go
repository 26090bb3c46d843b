package nn

import (
	"math"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

var cvFusedOps = [][]string{
	{"BiasAdd"},
	{"BiasAdd", "Relu"},
	{"BiasAdd", "Relu6"},
	{"BiasAdd", "Elu"},
	{"BiasAdd", "Selu"},
	{"BiasAdd", "LeakyRelu"},
	{"BiasAdd", "Prelu"},
	{"BiasAdd", "Sigmoid"},
	{"BiasAdd", "Tanh"},
	{"BiasAdd", "Softplus"},
	{"BiasAdd", "Add"},
	{"BiasAdd", "Add", "Relu"},
	{"FusedBatchNorm"},
	{"FusedBatchNorm", "Relu"},
	{"FusedBatchNorm", "LeakyRelu"},
	{"biasadd", "relu6"}, // TF.js spelling
}

// cvFusedProduct describes a fused op's core: its operands and a naive
// float64 reference for the product.
type cvFusedProduct struct {
	name  string
	op    string
	attrs map[string]*attrpb.AttrValue
	x, f  *tensor.Tensor
	ref   func(x, f []float64) ([]float64, []int)
}

func cvNaiveMatMul(a, b []float64, m, n, k int, ta, tb bool) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			c[i*n+j] = s
		}
	}
	return c
}

func cvFusedProducts() []cvFusedProduct {
	conv := cvCase{n: 2, h: 5, w: 4, c: 3, kh: 3, kw: 3, out: 4, sh: 2, sw: 1, dh: 1, dw: 1, padding: "SAME"}
	dw := cvCase{n: 1, h: 5, w: 5, c: 3, kh: 3, kw: 3, out: 2, sh: 1, sw: 1, dh: 1, dw: 1, padding: "EXPLICIT", explicit: []int{1, 0, 0, 2}}
	convRef := func(k cvCase, depthwise bool) func(x, f []float64) ([]float64, []int) {
		return func(x, f []float64) ([]float64, []int) {
			oh, ow, _, _ := k.outHW()
			if depthwise {
				return cvNaiveDepthwise(k, x, f), []int{k.n, oh, ow, k.c * k.out}
			}
			return cvNaiveConv(k, x, f), []int{k.n, oh, ow, k.out}
		}
	}
	ps := []cvFusedProduct{
		{"conv", "_FusedConv2D", conv.attrs(), kerneltest.Rand(1, -1, 1, conv.n, conv.h, conv.w, conv.c), kerneltest.Rand(2, -1, 1, conv.kh, conv.kw, conv.c, conv.out), convRef(conv, false)},
		{"depthwise", "_FusedDepthwiseConv2dNative", dw.attrs(), kerneltest.Rand(3, -1, 1, dw.n, dw.h, dw.w, dw.c), kerneltest.Rand(4, -1, 1, dw.kh, dw.kw, dw.c, dw.out), convRef(dw, true)},
		{"depthwiseTFJS", "FusedDepthwiseConv2dNative", dw.attrs(), kerneltest.Rand(5, -1, 1, dw.n, dw.h, dw.w, dw.c), kerneltest.Rand(6, -1, 1, dw.kh, dw.kw, dw.c, dw.out), convRef(dw, true)},
	}
	const m, n, k = 3, 4, 5
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		ta, tb := tr[0], tr[1]
		as, bs := []int{m, k}, []int{k, n}
		if ta {
			as = []int{k, m}
		}
		if tb {
			bs = []int{n, k}
		}
		name := "matmul"
		if ta {
			name += "TA"
		}
		if tb {
			name += "TB"
		}
		ps = append(ps, cvFusedProduct{name, "_FusedMatMul",
			map[string]*attrpb.AttrValue{"transpose_a": graph.BoolAttr(ta), "transpose_b": graph.BoolAttr(tb)},
			kerneltest.Rand(7, -1, 1, as...), kerneltest.Rand(8, -1, 1, bs...),
			func(a, b []float64) ([]float64, []int) { return cvNaiveMatMul(a, b, m, n, k, ta, tb), []int{m, n} }})
	}
	return ps
}

// cvFusedArgs returns the args for fused_ops on an output of shape out,
// and the plain float64 reference of the epilogue.
func cvFusedArgs(ops []string, out []int, slopeSign float64) ([]*tensor.Tensor, func(v []float64)) {
	ch := out[len(out)-1]
	var args []*tensor.Tensor
	var steps []func(v []float64)
	for _, op := range ops {
		switch strings.ToLower(op) {
		case "biasadd":
			b := kerneltest.Rand(20, -0.5, 0.5, ch)
			args = append(args, b)
			steps = append(steps, func(v []float64) {
				for i := range v {
					v[i] += b.F64[i%ch]
				}
			})
		case "add":
			a := kerneltest.Rand(21, -1, 1, out...)
			args = append(args, a)
			steps = append(steps, func(v []float64) {
				for i := range v {
					v[i] += a.F64[i]
				}
			})
		case "fusedbatchnorm":
			scale, offset := kerneltest.Rand(22, 0.5, 1.5, ch), kerneltest.Rand(23, -0.5, 0.5, ch)
			mean, variance := kerneltest.Rand(24, -0.5, 0.5, ch), kerneltest.Rand(25, 0.5, 2, ch)
			args = append(args, scale, offset, mean, variance)
			steps = append(steps, func(v []float64) {
				eps := float64(float32(1e-3))
				for i := range v {
					j := i % ch
					v[i] = (v[i]-mean.F64[j])*scale.F64[j]/math.Sqrt(variance.F64[j]+eps) + offset.F64[j]
				}
			})
		case "prelu":
			s := kerneltest.Rand(26, 0.05, 0.5, 1, ch)
			for i := range s.F64 {
				if i%2 == 1 {
					s.F64[i] *= slopeSign
				}
			}
			args = append(args, s)
			steps = append(steps, func(v []float64) {
				for i, x := range v {
					if x < 0 {
						v[i] = s.F64[i%ch] * x
					}
				}
			})
		case "leakyrelu":
			steps = append(steps, func(v []float64) {
				for i, x := range v {
					if x < 0 {
						v[i] = float64(float32(0.15)) * x
					}
				}
			})
		default:
			canon, _ := activationByName(op, 0)
			ref := cvActRef[canon.name]
			steps = append(steps, func(v []float64) {
				for i, x := range v {
					v[i] = ref(x)
				}
			})
		}
	}
	return args, func(v []float64) {
		for _, s := range steps {
			s(v)
		}
	}
}

func cvFusedNode(p cvFusedProduct, ops []string, numArgs int) *graph.Node {
	a := map[string]*attrpb.AttrValue{
		"fused_ops":       graph.StringsAttr(ops...),
		"num_args":        graph.IntAttr(numArgs),
		"epsilon":         graph.FloatAttr(1e-3),
		"leakyrelu_alpha": graph.FloatAttr(0.15),
	}
	for k, v := range p.attrs {
		a[k] = v
	}
	return kerneltest.Node(p.op, 1, a)
}

func TestFusedForwardAndGrad(t *testing.T) {
	for _, p := range cvFusedProducts() {
		for _, ops := range cvFusedOps {
			for _, slopeSign := range []float64{1, -1} {
				if slopeSign < 0 && ops[len(ops)-1] != "Prelu" {
					continue
				}
				name := p.name + "/" + strings.Join(ops, "+")
				if slopeSign < 0 {
					name += "/negativeSlopes"
				}
				t.Run(name, func(t *testing.T) {
					prod, shape := p.ref(p.x.F64, p.f.F64)
					args, epilogue := cvFusedArgs(ops, shape, slopeSign)
					epilogue(prod)
					node := cvFusedNode(p, ops, len(args))
					in := append([]*tensor.Tensor{p.x, p.f}, args...)
					y := kerneltest.MustForward(t, node, in...)[0]
					if !tensor.SameShape(y.Shape, shape) {
						t.Fatalf("shape %v, want %v", y.Shape, shape)
					}
					cvAssertClose(t, "float64", y.F64, prod, 1e-12)
					in32 := make([]*tensor.Tensor, len(in))
					for i, v := range in {
						in32[i] = cvF32(v)
					}
					y32 := kerneltest.MustForward(t, node, in32...)[0]
					cvAssertClose(t, "float32", y32.Float64s(), y.F64, 1e-5)
					kerneltest.CheckGrad(t, node, in, kerneltest.GradOptions{Seed: 9})
				})
			}
		}
	}
}

// TestFusedReluModes checks guided and deconv backward through a fused
// conv against the rule applied by hand to the pre-activation, followed by
// the (finite-difference checked) Conv2D and BiasAdd backward.
func TestFusedReluModes(t *testing.T) {
	k := cvCase{n: 1, h: 4, w: 4, c: 2, kh: 3, kw: 3, out: 3, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"}
	x := kerneltest.Rand(1, -1, 1, 1, 4, 4, 2)
	f := kerneltest.Rand(2, -1, 1, 3, 3, 2, 3)
	b := kerneltest.Rand(3, -0.5, 0.5, 3)
	dy := kerneltest.Rand(4, -1, 1, 1, 4, 4, 3)
	z := kerneltest.MustForward(t, kerneltest.Node("Conv2D", 1, k.attrs()), x, f)[0]
	z = kerneltest.MustForward(t, kerneltest.Node("BiasAdd", 1, nil), z, b)[0]
	p := cvFusedProduct{op: "_FusedConv2D", attrs: k.attrs()}
	for _, mode := range []engine.ReluMode{engine.ReluNormal, engine.ReluGuided, engine.ReluDeconv} {
		dz := tensor.NewLike(dy)
		for i, g := range dy.F64 {
			switch mode {
			case engine.ReluNormal:
				if z.F64[i] > 0 {
					dz.F64[i] = g
				}
			case engine.ReluGuided:
				if z.F64[i] > 0 && g > 0 {
					dz.F64[i] = g
				}
			case engine.ReluDeconv:
				dz.F64[i] = math.Max(g, 0)
			}
		}
		want := cvBackward(t, kerneltest.Node("Conv2D", 1, k.attrs()), engine.ReluNormal, []*tensor.Tensor{x, f}, []*tensor.Tensor{dz})
		wantB := cvBackward(t, kerneltest.Node("BiasAdd", 1, nil), engine.ReluNormal, []*tensor.Tensor{z, b}, []*tensor.Tensor{dz})[1]
		got := cvBackward(t, cvFusedNode(p, []string{"BiasAdd", "Relu"}, 1), mode, []*tensor.Tensor{x, f, b}, []*tensor.Tensor{dy})
		cvAssertClose(t, mode.String()+" dx", got[0].F64, want[0].F64, 1e-12)
		cvAssertClose(t, mode.String()+" df", got[1].F64, want[1].F64, 1e-12)
		cvAssertClose(t, mode.String()+" db", got[2].F64, wantB.F64, 1e-12)
	}
}

func TestFusedLeakyReluNegativeAlpha(t *testing.T) {
	p := cvFusedProducts()[0]
	node := cvFusedNode(p, []string{"BiasAdd", "LeakyRelu"}, 1)
	node.Attrs["leakyrelu_alpha"] = graph.FloatAttr(-0.3)
	_, shape := p.ref(p.x.F64, p.f.F64)
	args, _ := cvFusedArgs([]string{"BiasAdd"}, shape, 1)
	kerneltest.CheckGrad(t, node, append([]*tensor.Tensor{p.x, p.f}, args...), kerneltest.GradOptions{})
}

func TestFusedBadSpecs(t *testing.T) {
	p := cvFusedProducts()[0]
	_, shape := p.ref(p.x.F64, p.f.F64)
	bias, _ := cvFusedArgs([]string{"BiasAdd"}, shape, 1)
	cases := []struct {
		name    string
		ops     []string
		numArgs int
		args    []*tensor.Tensor
		edit    func(a map[string]*attrpb.AttrValue)
		substr  string
	}{
		{"reluOnly", []string{"Relu"}, 0, nil, nil, "unsupported fused_ops"},
		{"twoActs", []string{"BiasAdd", "Relu", "Tanh"}, 1, bias, nil, "unsupported fused_ops"},
		{"unknownAct", []string{"BiasAdd", "Gelu"}, 1, bias, nil, "unsupported fused_ops"},
		{"empty", nil, 0, nil, nil, "unsupported fused_ops"},
		{"numArgs", []string{"BiasAdd", "Relu"}, 2, bias, nil, "num_args"},
		{"nchw", []string{"BiasAdd"}, 1, bias, func(a map[string]*attrpb.AttrValue) { a["data_format"] = graph.StringAttr("NCHW") }, "NCHW"},
		{"biasShape", []string{"BiasAdd"}, 1, []*tensor.Tensor{kerneltest.Rand(1, 0, 1, 5)}, nil, "bias has shape"},
		{"missingArg", []string{"BiasAdd"}, 1, nil, nil, "inputs"},
		{"hostArgs", []string{"BiasAdd"}, 1, bias, func(a map[string]*attrpb.AttrValue) { a["num_host_args"] = graph.IntAttr(1) }, "num_host_args"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := cvFusedNode(p, tc.ops, tc.numArgs)
			if tc.edit != nil {
				tc.edit(node.Attrs)
			}
			_, err := kerneltest.Forward(node, append([]*tensor.Tensor{p.x, p.f}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.substr) || !strings.Contains(err.Error(), "_FusedConv2D") {
				t.Errorf("error %v; want one naming the op and mentioning %q", err, tc.substr)
			}
		})
	}
	// Mismatched matmul operands.
	mm := cvFusedProducts()[3]
	node := cvFusedNode(mm, []string{"BiasAdd"}, 1)
	_, err := kerneltest.Forward(node, mm.x, kerneltest.Rand(1, 0, 1, 4, 4), kerneltest.Rand(1, 0, 1, 4))
	if err == nil || !strings.Contains(err.Error(), "inner dimensions") {
		t.Errorf("matmul mismatch: error %v", err)
	}
}
