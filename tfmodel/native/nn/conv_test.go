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

// cvCase describes one convolution configuration for the tests.
type cvCase struct {
	name           string
	n, h, w, c     int
	kh, kw, out    int // out: output channels (Conv2D) or multiplier (depthwise)
	sh, sw, dh, dw int
	padding        string
	explicit       []int // top, bottom, left, right
}

func (k cvCase) attrs() map[string]*attrpb.AttrValue {
	a := map[string]*attrpb.AttrValue{
		"strides":     graph.IntsAttr(1, k.sh, k.sw, 1),
		"dilations":   graph.IntsAttr(1, k.dh, k.dw, 1),
		"padding":     graph.StringAttr(k.padding),
		"data_format": graph.StringAttr("NHWC"),
	}
	if k.padding == "EXPLICIT" {
		e := k.explicit
		a["explicit_paddings"] = graph.IntsAttr(0, 0, e[0], e[1], e[2], e[3], 0, 0)
	}
	return a
}

// cvRefPads computes TensorFlow's output size and leading padding for one
// dimension independently of windowOutput: SAME pads so that
// out = ceil(in/s), putting the odd element at the end.
func cvRefPads(in, k, s, d int, padding string, eb, ea int) (out, before int) {
	eff := (k-1)*d + 1
	switch padding {
	case "SAME":
		out = int(math.Ceil(float64(in) / float64(s)))
		total := (out-1)*s + eff - in
		if total < 0 {
			total = 0
		}
		return out, total / 2
	case "VALID":
		return int(math.Ceil(float64(in-eff+1) / float64(s))), 0
	}
	return (in+eb+ea-eff)/s + 1, eb
}

func (k cvCase) outHW() (oh, ow, pt, pl int) {
	var e [4]int
	copy(e[:], k.explicit)
	oh, pt = cvRefPads(k.h, k.kh, k.sh, k.dh, k.padding, e[0], e[1])
	ow, pl = cvRefPads(k.w, k.kw, k.sw, k.dw, k.padding, e[2], e[3])
	return
}

// cvNaiveConv is a direct 7-nested-loop convolution in float64.
func cvNaiveConv(k cvCase, x, f []float64) []float64 {
	oh, ow, pt, pl := k.outHW()
	y := make([]float64, k.n*oh*ow*k.out)
	for b := 0; b < k.n; b++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for o := 0; o < k.out; o++ {
					var s float64
					for di := 0; di < k.kh; di++ {
						for dj := 0; dj < k.kw; dj++ {
							for ci := 0; ci < k.c; ci++ {
								ii := i*k.sh + di*k.dh - pt
								jj := j*k.sw + dj*k.dw - pl
								if ii < 0 || ii >= k.h || jj < 0 || jj >= k.w {
									continue
								}
								s += x[((b*k.h+ii)*k.w+jj)*k.c+ci] * f[((di*k.kw+dj)*k.c+ci)*k.out+o]
							}
						}
					}
					y[((b*oh+i)*ow+j)*k.out+o] = s
				}
			}
		}
	}
	return y
}

var cvCases = []cvCase{
	{name: "same3x3", n: 1, h: 5, w: 6, c: 3, kh: 3, kw: 3, out: 4, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
	{name: "valid3x3", n: 2, h: 6, w: 5, c: 2, kh: 3, kw: 2, out: 3, sh: 1, sw: 1, dh: 1, dw: 1, padding: "VALID"},
	{name: "stride2odd", n: 1, h: 7, w: 9, c: 3, kh: 3, kw: 3, out: 2, sh: 2, sw: 2, dh: 1, dw: 1, padding: "SAME"},
	{name: "stride2validOdd", n: 1, h: 7, w: 7, c: 2, kh: 3, kw: 3, out: 2, sh: 2, sw: 2, dh: 1, dw: 1, padding: "VALID"},
	{name: "stride2evenK3", n: 1, h: 8, w: 10, c: 2, kh: 3, kw: 3, out: 3, sh: 2, sw: 2, dh: 1, dw: 1, padding: "SAME"},
	{name: "k2same", n: 1, h: 4, w: 5, c: 2, kh: 2, kw: 2, out: 2, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
	{name: "stride2even4x4", n: 1, h: 8, w: 6, c: 2, kh: 4, kw: 4, out: 3, sh: 2, sw: 2, dh: 1, dw: 1, padding: "SAME"},
	{name: "explicit", n: 1, h: 5, w: 4, c: 2, kh: 3, kw: 3, out: 3, sh: 1, sw: 2, dh: 1, dw: 1, padding: "EXPLICIT", explicit: []int{2, 0, 1, 3}},
	{name: "dilation2", n: 1, h: 8, w: 7, c: 2, kh: 3, kw: 3, out: 2, sh: 1, sw: 1, dh: 2, dw: 2, padding: "SAME"},
	{name: "dilation2valid", n: 1, h: 8, w: 9, c: 2, kh: 2, kw: 3, out: 2, sh: 1, sw: 1, dh: 2, dw: 3, padding: "VALID"},
	{name: "batch3", n: 3, h: 4, w: 5, c: 3, kh: 3, kw: 3, out: 5, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
	{name: "pointwise", n: 2, h: 3, w: 5, c: 4, kh: 1, kw: 1, out: 6, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
	{name: "pointwiseStride2", n: 1, h: 5, w: 5, c: 3, kh: 1, kw: 1, out: 2, sh: 2, sw: 2, dh: 1, dw: 1, padding: "VALID"},
	{name: "kernelLargerThanInput", n: 1, h: 2, w: 3, c: 2, kh: 5, kw: 5, out: 2, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"},
	{name: "wide", n: 1, h: 3, w: 3, c: 5, kh: 3, kw: 1, out: 3, sh: 1, sw: 3, dh: 1, dw: 1, padding: "SAME"},
}

func cvAssertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(got[i]) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.9g, want %.9g", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values wrong", what, bad, len(got))
	}
}

func cvF32(t *tensor.Tensor) *tensor.Tensor {
	c, _ := t.Cast(tensor.Float32)
	return c
}

func TestConv2DForwardMatchesNaive(t *testing.T) {
	for i, k := range cvCases {
		t.Run(k.name, func(t *testing.T) {
			x := kerneltest.Rand(uint64(2*i), -1, 1, k.n, k.h, k.w, k.c)
			f := kerneltest.Rand(uint64(2*i+1), -1, 1, k.kh, k.kw, k.c, k.out)
			node := kerneltest.Node("Conv2D", 1, k.attrs())
			y := kerneltest.MustForward(t, node, x, f)[0]
			oh, ow, _, _ := k.outHW()
			if !tensor.SameShape(y.Shape, []int{k.n, oh, ow, k.out}) {
				t.Fatalf("output shape %v, want %v", y.Shape, []int{k.n, oh, ow, k.out})
			}
			want := cvNaiveConv(k, x.F64, f.F64)
			cvAssertClose(t, "float64", y.F64, want, 1e-12)
			y32 := kerneltest.MustForward(t, node, cvF32(x), cvF32(f))[0]
			if y32.DType != tensor.Float32 {
				t.Fatalf("float32 input gave %v output", y32.DType)
			}
			cvAssertClose(t, "float32", y32.Float64s(), y.F64, 1e-5)
		})
	}
}

func TestConv2DGrad(t *testing.T) {
	for i, k := range cvCases {
		t.Run(k.name, func(t *testing.T) {
			x := kerneltest.Rand(uint64(2*i), -1, 1, k.n, k.h, k.w, k.c)
			f := kerneltest.Rand(uint64(2*i+1), -1, 1, k.kh, k.kw, k.c, k.out)
			kerneltest.CheckGrad(t, kerneltest.Node("Conv2D", 1, k.attrs()), []*tensor.Tensor{x, f}, kerneltest.GradOptions{Seed: uint64(i)})
		})
	}
}

// TestConv2DLargeChunked covers the im2col chunking (more output pixels
// than one chunk holds) against the naive loops.
func TestConv2DLargeChunked(t *testing.T) {
	k := cvCase{name: "big", n: 2, h: 40, w: 37, c: 40, kh: 3, kw: 3, out: 3, sh: 1, sw: 1, dh: 1, dw: 1, padding: "SAME"}
	x := kerneltest.Rand(1, -1, 1, k.n, k.h, k.w, k.c)
	f := kerneltest.Rand(2, -1, 1, k.kh, k.kw, k.c, k.out)
	g := convGeom{n: k.n, h: k.h, w: k.w, c: k.c, kh: 3, kw: 3}
	if rows := k.n * k.h * k.w; g.chunkRows() >= rows {
		t.Fatalf("test shape does not exercise chunking: chunk %d rows, %d rows", g.chunkRows(), rows)
	}
	y := kerneltest.MustForward(t, kerneltest.Node("Conv2D", 1, k.attrs()), x, f)[0]
	cvAssertClose(t, "chunked", y.F64, cvNaiveConv(k, x.F64, f.F64), 1e-12)
}

func TestConv2DBadAttrs(t *testing.T) {
	x := kerneltest.Rand(1, -1, 1, 1, 5, 5, 3)
	f := kerneltest.Rand(2, -1, 1, 3, 3, 3, 2)
	base := cvCases[0]
	cases := []struct {
		name   string
		edit   func(a map[string]*attrpb.AttrValue)
		f      *tensor.Tensor
		substr string
	}{
		{"nchw", func(a map[string]*attrpb.AttrValue) { a["data_format"] = graph.StringAttr("NCHW") }, f, "NCHW"},
		{"stridesLen", func(a map[string]*attrpb.AttrValue) { a["strides"] = graph.IntsAttr(1, 1) }, f, "strides"},
		{"stridesZero", func(a map[string]*attrpb.AttrValue) { a["strides"] = graph.IntsAttr(1, 0, 1, 1) }, f, "strides"},
		{"batchStride", func(a map[string]*attrpb.AttrValue) { a["strides"] = graph.IntsAttr(2, 1, 1, 1) }, f, "batch"},
		{"noStrides", func(a map[string]*attrpb.AttrValue) { delete(a, "strides") }, f, "strides"},
		{"badPadding", func(a map[string]*attrpb.AttrValue) { a["padding"] = graph.StringAttr("FULL") }, f, "FULL"},
		{"negativePadding", func(a map[string]*attrpb.AttrValue) {
			a["padding"] = graph.StringAttr("EXPLICIT")
			a["explicit_paddings"] = graph.IntsAttr(0, 0, -1, 0, 0, 0, 0, 0)
		}, f, "negative"},
		{"explicitLen", func(a map[string]*attrpb.AttrValue) {
			a["padding"] = graph.StringAttr("EXPLICIT")
			a["explicit_paddings"] = graph.IntsAttr(1, 1)
		}, f, "explicit_paddings"},
		{"dilationsLen", func(a map[string]*attrpb.AttrValue) { a["dilations"] = graph.IntsAttr(1, 2, 1) }, f, "dilations"},
		{"channelMismatch", func(map[string]*attrpb.AttrValue) {}, kerneltest.Rand(2, -1, 1, 3, 3, 4, 2), "channels"},
		{"filterRank", func(map[string]*attrpb.AttrValue) {}, kerneltest.Rand(2, -1, 1, 3, 3, 3), "rank 4"},
		{"filterTooBig", func(a map[string]*attrpb.AttrValue) { a["padding"] = graph.StringAttr("VALID") }, kerneltest.Rand(2, -1, 1, 7, 3, 3, 2), "larger than"},
		{"dtypeMismatch", func(map[string]*attrpb.AttrValue) {}, cvF32(f), "float32"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := base.attrs()
			tc.edit(a)
			node := kerneltest.Node("Conv2D", 1, a)
			_, err := kerneltest.Forward(node, x, tc.f)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tc.substr) || !strings.Contains(err.Error(), "Conv2D") {
				t.Errorf("error %q does not mention %q and the op", err, tc.substr)
			}
		})
	}
}
