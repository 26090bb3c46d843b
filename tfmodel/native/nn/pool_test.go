package nn

import (
	"math"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func poolTestNode(op string, k, s int, padding string) *graph.Node {
	return kerneltest.Node(op, 1, map[string]*attrpb.AttrValue{
		"ksize": graph.IntsAttr(1, k, k, 1), "strides": graph.IntsAttr(1, s, s, 1),
		"padding": graph.StringAttr(padding),
	})
}

func poolIota(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	for i := range t.F64 {
		t.F64[i] = float64(i)
	}
	return t
}

func poolExpect(t *testing.T, what string, got *tensor.Tensor, shape []int, want []float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	for i, w := range want {
		if math.Abs(got.Float(i)-w) > 1e-6 {
			t.Fatalf("%s: got %v, want %v", what, got.Float64s(), want)
		}
	}
}

// Hand-computed: x[i][j] = 5i + j on a 5x5 image; 3x3 window, stride 2,
// SAME pads one row/column before and after; windows clip to the image.
func TestPoolHandValues(t *testing.T) {
	x := poolIota(1, 5, 5, 1)
	poolExpect(t, "MaxPool 5x5 k3 s2 SAME", kerneltest.MustForward(t, poolTestNode("MaxPool", 3, 2, "SAME"), x)[0],
		[]int{1, 3, 3, 1}, []float64{6, 8, 9, 16, 18, 19, 21, 23, 24})
	poolExpect(t, "AvgPool 5x5 k3 s2 SAME", kerneltest.MustForward(t, poolTestNode("AvgPool", 3, 2, "SAME"), x)[0],
		[]int{1, 3, 3, 1}, []float64{3, 4.5, 6, 10.5, 12, 13.5, 18, 19.5, 21})
	poolExpect(t, "MaxPool 5x5 k3 s2 VALID", kerneltest.MustForward(t, poolTestNode("MaxPool", 3, 2, "VALID"), x)[0],
		[]int{1, 2, 2, 1}, []float64{12, 14, 22, 24})
	// 3x3 with 2x2 windows, stride 2, SAME: the extra padding goes after.
	x3 := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 3, 3, 1)
	poolExpect(t, "MaxPool 3x3 k2 s2 SAME", kerneltest.MustForward(t, poolTestNode("MaxPool", 2, 2, "SAME"), x3)[0],
		[]int{1, 2, 2, 1}, []float64{5, 6, 8, 9})
	poolExpect(t, "AvgPool 3x3 k2 s2 SAME", kerneltest.MustForward(t, poolTestNode("AvgPool", 2, 2, "SAME"), x3)[0],
		[]int{1, 2, 2, 1}, []float64{3, 4.5, 7.5, 9})
}

// poolNaive pools with an explicitly padded image: pad cells are marked
// and skipped, the pad split computed from TensorFlow's documented rule.
func poolNaive(x *tensor.Tensor, k, s int, same, isMax bool) *tensor.Tensor {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := (h-k)/s+1, (w-k)/s+1
	pt, pl := 0, 0
	if same {
		oh, ow = int(math.Ceil(float64(h)/float64(s))), int(math.Ceil(float64(w)/float64(s)))
		pt = max((oh-1)*s+k-h, 0) / 2
		pl = max((ow-1)*s+k-w, 0) / 2
	}
	y := tensor.New(tensor.Float64, n, oh, ow, c)
	for b := range n {
		for i := range oh {
			for j := range ow {
				for ch := range c {
					acc, cnt := math.Inf(-1), 0
					if !isMax {
						acc = 0
					}
					for di := range k {
						for dj := range k {
							yy, xx := i*s+di-pt, j*s+dj-pl
							if yy < 0 || yy >= h || xx < 0 || xx >= w {
								continue
							}
							v := x.F64[((b*h+yy)*w+xx)*c+ch]
							if isMax {
								acc = math.Max(acc, v)
							} else {
								acc += v
							}
							cnt++
						}
					}
					if !isMax {
						acc /= float64(cnt)
					}
					y.F64[((b*oh+i)*ow+j)*c+ch] = acc
				}
			}
		}
	}
	return y
}

func TestPoolMatchesNaiveAndGrad(t *testing.T) {
	for _, tc := range []struct {
		h, w, k, s int
		pad        string
	}{{5, 7, 3, 2, "SAME"}, {6, 6, 2, 2, "VALID"}, {7, 5, 3, 1, "SAME"}, {4, 5, 2, 3, "SAME"}, {5, 5, 3, 2, "VALID"}} {
		x := kerneltest.Rand(uint64(tc.h*tc.w), -1, 1, 2, tc.h, tc.w, 3)
		for _, op := range []string{"MaxPool", "AvgPool"} {
			n := poolTestNode(op, tc.k, tc.s, tc.pad)
			want := poolNaive(x, tc.k, tc.s, tc.pad == "SAME", op == "MaxPool")
			for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
				xc, _ := x.Cast(dt)
				got := kerneltest.MustForward(t, n, xc)[0]
				if got.DType != dt {
					t.Fatalf("%s: dtype %v", op, got.DType)
				}
				poolExpect(t, op+" "+tc.pad, got, want.Shape, want.F64)
			}
			kerneltest.CheckGrad(t, n, []*tensor.Tensor{x}, kerneltest.GradOptions{})
		}
	}
}

func TestMaxPoolTiesGoToFirst(t *testing.T) {
	x := tensor.FromFloat64([]float64{1, 2, 2, 0}, 1, 2, 2, 1)
	n := poolTestNode("MaxPool", 2, 2, "VALID")
	d, _ := kernel.Lookup("MaxPool")
	g, err := d.Backward(&kernel.Context{Node: n}, []*tensor.Tensor{x}, nil, []*tensor.Tensor{tensor.FromFloat64([]float64{1}, 1, 1, 1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	poolExpect(t, "tie gradient", g[0], []int{1, 2, 2, 1}, []float64{0, 1, 0, 0})
}

func TestPoolBadInput(t *testing.T) {
	x := tensor.New(tensor.Float32, 1, 4, 4, 1)
	cases := []struct {
		n   *graph.Node
		x   *tensor.Tensor
		msg string
	}{
		{poolTestNode("MaxPool", 2, 2, "FULL"), x, "padding"},
		{poolTestNode("MaxPool", 5, 1, "VALID"), x, "larger than"},
		{poolTestNode("AvgPool", 2, 0, "VALID"), x, "positive"},
		{poolTestNode("MaxPool", 2, 2, "VALID"), tensor.New(tensor.Float32, 4, 4), "rank 4"},
		{poolTestNode("MaxPool", 2, 2, "VALID"), tensor.New(tensor.Int32, 1, 4, 4, 1), "float"},
		{kerneltest.Node("MaxPool", 1, map[string]*attrpb.AttrValue{"ksize": graph.IntsAttr(2, 2, 2, 1), "strides": graph.IntsAttr(1, 1, 1, 1), "padding": graph.StringAttr("VALID")}), x, "batch or channels"},
		{kerneltest.Node("MaxPool", 1, map[string]*attrpb.AttrValue{"ksize": graph.IntsAttr(1, 2, 2, 1), "strides": graph.IntsAttr(1, 1, 1, 1), "padding": graph.StringAttr("VALID"), "data_format": graph.StringAttr("NCHW")}), x, "NHWC"},
	}
	for _, tc := range cases {
		_, err := kerneltest.Forward(tc.n, tc.x)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: err = %v, want mention of %q", tc.n.Attrs, err, tc.msg)
		}
	}
	v2 := kerneltest.Node("MaxPoolV2", 1, map[string]*attrpb.AttrValue{"padding": graph.StringAttr("VALID")})
	y := kerneltest.MustForward(t, v2, poolIota(1, 4, 4, 1), tensor.FromInt32([]int32{1, 2, 2, 1}, 4), tensor.FromInt32([]int32{1, 2, 2, 1}, 4))[0]
	poolExpect(t, "MaxPoolV2", y, []int{1, 2, 2, 1}, []float64{5, 7, 13, 15})
}

func BenchmarkMaxPool(b *testing.B) {
	for _, bc := range []struct {
		name  string
		shape []int
		k, s  int
		pad   string
	}{
		{"112x112x64_k3s2_SAME", []int{1, 112, 112, 64}, 3, 2, "SAME"},
		{"8x56x56x64_k2s2_VALID", []int{8, 56, 56, 64}, 2, 2, "VALID"},
	} {
		x := tensor.New(tensor.Float32, bc.shape...)
		for i := range x.F32 {
			x.F32[i] = float32(i % 97)
		}
		n := poolTestNode("MaxPool", bc.k, bc.s, bc.pad)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(x.Len() * 4))
			for b.Loop() {
				kerneltest.MustForward(b, n, x)
			}
		})
	}
}
