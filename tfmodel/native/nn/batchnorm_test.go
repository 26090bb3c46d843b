package nn

import (
	"math"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func bnormTestNode(op string, training bool, eps, factor float64) *graph.Node {
	nout := 6
	if op != "FusedBatchNormV3" {
		nout = 5
	}
	return kerneltest.Node(op, nout, map[string]*attrpb.AttrValue{
		"is_training": graph.BoolAttr(training), "epsilon": graph.FloatAttr(eps),
		"exponential_avg_factor": graph.FloatAttr(factor),
	})
}

func bnormInputs(c int) []*tensor.Tensor {
	return []*tensor.Tensor{
		kerneltest.Rand(1, -2, 2, 2, 3, 2, c),
		kerneltest.Rand(2, 0.5, 1.5, c),
		kerneltest.Rand(3, -1, 1, c),
		kerneltest.Rand(4, -0.5, 0.5, c),
		kerneltest.Rand(5, 0.5, 2, c),
	}
}

func TestFusedBatchNormInference(t *testing.T) {
	in := bnormInputs(3)
	eps := 0.001
	for _, op := range []string{"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"} {
		n := bnormTestNode(op, false, eps, 1)
		out := kerneltest.MustForward(t, n, in...)
		if len(out) != n.NumOutputs {
			t.Fatalf("%s: %d outputs, want %d", op, len(out), n.NumOutputs)
		}
		x, scale, offset, mean, variance := in[0], in[1], in[2], in[3], in[4]
		epsf := float64(float32(eps)) // attributes are float32
		for i, v := range x.F64 {
			ch := i % 3
			want := (v-mean.F64[ch])/math.Sqrt(variance.F64[ch]+epsf)*scale.F64[ch] + offset.F64[ch]
			if math.Abs(out[0].F64[i]-want) > 1e-12 {
				t.Fatalf("%s y[%d] = %g, want %g", op, i, out[0].F64[i], want)
			}
		}
		for ch := range 3 {
			if out[1].F64[ch] != mean.F64[ch] || out[2].F64[ch] != variance.F64[ch] {
				t.Fatalf("%s: batch_mean/variance do not pass mean/variance through", op)
			}
		}
		if op == "FusedBatchNormV3" && out[5].Len() != 0 {
			t.Fatalf("reserve_space_3 has %d elements", out[5].Len())
		}
		kerneltest.CheckGrad(t, n, in, kerneltest.GradOptions{})
	}
	// float32 runs too.
	in32 := make([]*tensor.Tensor, 5)
	for i, v := range in {
		in32[i], _ = v.Cast(tensor.Float32)
	}
	y := kerneltest.MustForward(t, bnormTestNode("FusedBatchNormV3", false, eps, 1), in32...)[0]
	if y.DType != tensor.Float32 {
		t.Fatalf("float32 BN gave %v", y.DType)
	}
}

func TestFusedBatchNormTraining(t *testing.T) {
	in := bnormInputs(2)
	x := in[0]
	m := x.Len() / 2
	// Batch statistics by hand.
	var mu, vr [2]float64
	for i, v := range x.F64 {
		mu[i%2] += v / float64(m)
	}
	for i, v := range x.F64 {
		vr[i%2] += (v - mu[i%2]) * (v - mu[i%2]) / float64(m)
	}
	eps := float64(float32(0.001))
	empty := tensor.New(tensor.Float64, 0)
	n := bnormTestNode("FusedBatchNormV3", true, 0.001, 1)
	out := kerneltest.MustForward(t, n, x, in[1], in[2], empty, empty)
	for i, v := range x.F64 {
		ch := i % 2
		want := (v-mu[ch])/math.Sqrt(vr[ch]+eps)*in[1].F64[ch] + in[2].F64[ch]
		if math.Abs(out[0].F64[i]-want) > 1e-12 {
			t.Fatalf("training y[%d] = %g, want %g", i, out[0].F64[i], want)
		}
	}
	for ch := range 2 {
		if math.Abs(out[1].F64[ch]-mu[ch]) > 1e-12 || math.Abs(out[2].F64[ch]-vr[ch]*float64(m)/float64(m-1)) > 1e-12 {
			t.Fatalf("training batch stats %v %v, want %v and unbiased %v", out[1].F64, out[2].F64, mu, vr)
		}
	}
	kerneltest.CheckGrad(t, n, []*tensor.Tensor{x, in[1], in[2], empty, empty}, kerneltest.GradOptions{Wrt: []int{0, 1, 2}})
	nf := bnormTestNode("FusedBatchNormV3", true, 0.001, 0.25)
	kerneltest.CheckGrad(t, nf, in, kerneltest.GradOptions{})
	// Attribute absent: TensorFlow's default is is_training=true.
	nd := kerneltest.Node("FusedBatchNorm", 5, nil)
	y := kerneltest.MustForward(t, nd, x, in[1], in[2], empty, empty)[1]
	if math.Abs(y.F64[0]-mu[0]) > 1e-12 {
		t.Fatalf("default is_training: batch_mean %v, want %v", y.F64, mu)
	}
}

func TestFusedBatchNormBadInput(t *testing.T) {
	in := bnormInputs(3)
	n := bnormTestNode("FusedBatchNormV3", false, 0.001, 1)
	bad := append([]*tensor.Tensor(nil), in...)
	bad[1] = kerneltest.Rand(1, 0, 1, 4)
	_, err := kerneltest.Forward(n, bad...)
	if err == nil || !strings.Contains(err.Error(), "scale has shape (4,)") {
		t.Fatalf("wrong scale size: err = %v", err)
	}
	_, err = kerneltest.Forward(n, in[:4]...)
	if err == nil || !strings.Contains(err.Error(), "expected 5 inputs") {
		t.Fatalf("4 inputs: err = %v", err)
	}
	bad = append([]*tensor.Tensor(nil), in...)
	bad[3] = tensor.New(tensor.Float32, 3)
	if _, err = kerneltest.Forward(n, bad...); err == nil {
		t.Fatal("mixed dtypes: no error")
	}
	nchw := bnormTestNode("FusedBatchNormV3", false, 0.001, 1)
	nchw.Attrs["data_format"] = graph.StringAttr("NCHW")
	if _, err = kerneltest.Forward(nchw, in...); err == nil {
		t.Fatal("NCHW: no error")
	}
}
