package array

import (
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

type attrs = map[string]*attrpb.AttrValue

func i32(v ...int32) *tensor.Tensor { return tensor.FromInt32(v, len(v)) }

func scalar32(v int32) *tensor.Tensor { return tensor.FromInt32([]int32{v}) }

func f64(shape []int, v ...float64) *tensor.Tensor { return tensor.FromFloat64(v, shape...) }

// iota64 returns 0, 1, 2, ... of the given shape.
func iota64(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	for i := range t.F64 {
		t.F64[i] = float64(i)
	}
	return t
}

func expect(t *testing.T, what string, got *tensor.Tensor, shape []int, vals []float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if got.Len() != len(vals) {
		t.Fatalf("%s: %d values, want %d", what, got.Len(), len(vals))
	}
	for i, v := range vals {
		if got.Float(i) != v {
			t.Fatalf("%s: values %v, want %v", what, got.Float64s(), vals)
		}
	}
}

func expectErr(t *testing.T, what string, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("%s: error %q does not mention %q", what, err, substr)
	}
}

func TestConstPlaceholderVariables(t *testing.T) {
	n := kerneltest.Node("Const", 1, nil)
	_, err := kerneltest.Forward(n)
	expectErr(t, "Const without value", err, "test/Const")
	n.Value = f64([]int{2}, 1, 2)
	expect(t, "Const", kerneltest.MustForward(t, n)[0], []int{2}, []float64{1, 2})

	_, err = kerneltest.Forward(kerneltest.Node("Placeholder", 1, nil))
	expectErr(t, "Placeholder", err, "must be fed")

	v := kerneltest.Node("VarHandleOp", 1, nil)
	v.VarKey = "dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"
	_, err = kerneltest.Forward(v)
	expectErr(t, "unbound variable", err, "dense/kernel")
	v.Value = f64([]int{1}, 3)
	r := kerneltest.MustForward(t, kerneltest.Node("ReadVariableOp", 1, nil), kerneltest.MustForward(t, v)[0])[0]
	expect(t, "ReadVariableOp", r, []int{1}, []float64{3})

	x := iota64(2)
	for _, op := range []string{"Identity", "PlaceholderWithDefault", "StopGradient"} {
		expect(t, op, kerneltest.MustForward(t, kerneltest.Node(op, 1, nil), x)[0], []int{2}, []float64{0, 1})
	}
	kerneltest.CheckGrad(t, kerneltest.Node("Identity", 1, nil), []*tensor.Tensor{x}, kerneltest.GradOptions{})
	ys := kerneltest.MustForward(t, kerneltest.Node("IdentityN", 2, nil), x, iota64(3))
	if len(ys) != 2 || ys[1].Len() != 3 {
		t.Fatalf("IdentityN: %v", ys)
	}
	if out := kerneltest.MustForward(t, kerneltest.Node("NoOp", 0, nil)); len(out) != 0 {
		t.Fatalf("NoOp returned %d outputs", len(out))
	}
}

func TestReshapeSqueezeExpand(t *testing.T) {
	x := iota64(2, 3, 4)
	n := kerneltest.Node("Reshape", 1, nil)
	expect(t, "Reshape -1", kerneltest.MustForward(t, n, x, i32(4, -1))[0], []int{4, 6}, x.F64)
	expect(t, "Reshape int64", kerneltest.MustForward(t, n, x, &tensor.Tensor{DType: tensor.Int64, Shape: []int{1}, I64: []int64{24}})[0], []int{24}, x.F64)
	for _, bad := range []*tensor.Tensor{i32(5, -1), i32(-1, -1), i32(2, 3), i32(-2, 12), tensor.FromFloat32([]float32{24}, 1)} {
		_, err := kerneltest.Forward(n, x, bad)
		expectErr(t, "Reshape to "+bad.String(), err, "test/Reshape")
	}
	kerneltest.CheckGrad(t, n, []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 2, 3), i32(3, 2)}, kerneltest.GradOptions{Wrt: []int{0}})

	y := iota64(1, 3, 1, 2)
	sq := kerneltest.Node("Squeeze", 1, nil)
	expect(t, "Squeeze all", kerneltest.MustForward(t, sq, y)[0], []int{3, 2}, y.F64)
	sq2 := kerneltest.Node("Squeeze", 1, attrs{"squeeze_dims": graph.IntsAttr(-2)})
	expect(t, "Squeeze -2", kerneltest.MustForward(t, sq2, y)[0], []int{1, 3, 2}, y.F64)
	_, err := kerneltest.Forward(kerneltest.Node("Squeeze", 1, attrs{"squeeze_dims": graph.IntsAttr(1)}), y)
	expectErr(t, "Squeeze of size 3", err, "not 1")
	_, err = kerneltest.Forward(kerneltest.Node("Squeeze", 1, attrs{"squeeze_dims": graph.IntsAttr(4)}), y)
	expectErr(t, "Squeeze axis 4", err, "out of range")
	kerneltest.CheckGrad(t, sq, []*tensor.Tensor{kerneltest.Rand(2, -1, 1, 1, 3, 1)}, kerneltest.GradOptions{})

	ex := kerneltest.Node("ExpandDims", 1, nil)
	expect(t, "ExpandDims -1", kerneltest.MustForward(t, ex, iota64(2, 3), scalar32(-1))[0], []int{2, 3, 1}, iota64(6).F64)
	expect(t, "ExpandDims 0", kerneltest.MustForward(t, ex, iota64(2, 3), scalar32(0))[0], []int{1, 2, 3}, iota64(6).F64)
	_, err = kerneltest.Forward(ex, iota64(2, 3), scalar32(4))
	expectErr(t, "ExpandDims 4", err, "out of range")
	kerneltest.CheckGrad(t, ex, []*tensor.Tensor{kerneltest.Rand(3, -1, 1, 2), scalar32(1)}, kerneltest.GradOptions{Wrt: []int{0}})
}

func TestShapeSizeFillLikeRange(t *testing.T) {
	x := iota64(2, 3, 4)
	s := kerneltest.MustForward(t, kerneltest.Node("Shape", 1, nil), x)[0]
	if s.DType != tensor.Int32 {
		t.Fatalf("Shape dtype %v", s.DType)
	}
	expect(t, "Shape", s, []int{3}, []float64{2, 3, 4})
	s64 := kerneltest.MustForward(t, kerneltest.Node("Shape", 1, attrs{"out_type": graph.TypeAttr(tensor.Int64)}), x)[0]
	if s64.DType != tensor.Int64 {
		t.Fatalf("Shape int64 dtype %v", s64.DType)
	}
	expect(t, "Size", kerneltest.MustForward(t, kerneltest.Node("Size", 1, nil), x)[0], nil, []float64{24})
	f := kerneltest.MustForward(t, kerneltest.Node("Fill", 1, nil), i32(2, 2), tensor.Scalar(tensor.Float64, 7))[0]
	expect(t, "Fill", f, []int{2, 2}, []float64{7, 7, 7, 7})
	kerneltest.CheckGrad(t, kerneltest.Node("Fill", 1, nil), []*tensor.Tensor{i32(2, 3), tensor.Scalar(tensor.Float64, 0.5)}, kerneltest.GradOptions{Wrt: []int{1}})
	_, err := kerneltest.Forward(kerneltest.Node("Fill", 1, nil), i32(-2, 2), tensor.Scalar(tensor.Float64, 7))
	expectErr(t, "Fill negative", err, "negative")
	expect(t, "OnesLike", kerneltest.MustForward(t, kerneltest.Node("OnesLike", 1, nil), iota64(2))[0], []int{2}, []float64{1, 1})
	expect(t, "ZerosLike", kerneltest.MustForward(t, kerneltest.Node("ZerosLike", 1, nil), iota64(2))[0], []int{2}, []float64{0, 0})
	r := kerneltest.MustForward(t, kerneltest.Node("Range", 1, nil), scalar32(1), scalar32(10), scalar32(3))[0]
	expect(t, "Range", r, []int{3}, []float64{1, 4, 7})
	r = kerneltest.MustForward(t, kerneltest.Node("Range", 1, nil), tensor.Scalar(tensor.Float32, 1), tensor.Scalar(tensor.Float32, 0), tensor.Scalar(tensor.Float32, -0.25))[0]
	expect(t, "Range float", r, []int{4}, []float64{1, 0.75, 0.5, 0.25})
	_, err = kerneltest.Forward(kerneltest.Node("Range", 1, nil), scalar32(1), scalar32(10), scalar32(0))
	expectErr(t, "Range delta 0", err, "delta")
}

func TestPad(t *testing.T) {
	x := f64([]int{2, 2}, 1, 2, 3, 4)
	pads := tensor.FromInt32([]int32{1, 0, 0, 2}, 2, 2)
	expect(t, "Pad", kerneltest.MustForward(t, kerneltest.Node("Pad", 1, nil), x, pads)[0], []int{3, 4},
		[]float64{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0})
	expect(t, "PadV2", kerneltest.MustForward(t, kerneltest.Node("PadV2", 1, nil), x, pads, tensor.Scalar(tensor.Float64, 9))[0], []int{3, 4},
		[]float64{9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9})
	v := f64([]int{3}, 1, 2, 3)
	p1 := tensor.FromInt32([]int32{2, 2}, 1, 2)
	reflect := kerneltest.Node("MirrorPad", 1, attrs{"mode": graph.StringAttr("REFLECT")})
	symmetric := kerneltest.Node("MirrorPad", 1, attrs{"mode": graph.StringAttr("SYMMETRIC")})
	expect(t, "REFLECT", kerneltest.MustForward(t, reflect, v, p1)[0], []int{7}, []float64{3, 2, 1, 2, 3, 2, 1})
	expect(t, "SYMMETRIC", kerneltest.MustForward(t, symmetric, v, p1)[0], []int{7}, []float64{2, 1, 1, 2, 3, 3, 2})
	p3 := tensor.FromInt32([]int32{3, 0}, 1, 2)
	expect(t, "SYMMETRIC 3", kerneltest.MustForward(t, symmetric, v, p3)[0], []int{6}, []float64{3, 2, 1, 1, 2, 3})
	_, err := kerneltest.Forward(reflect, v, p3)
	expectErr(t, "REFLECT pad 3 of size 3", err, "REFLECT")
	_, err = kerneltest.Forward(kerneltest.Node("Pad", 1, nil), x, tensor.FromInt32([]int32{1, -1, 0, 0}, 2, 2))
	expectErr(t, "negative pad", err, "negative")
	_, err = kerneltest.Forward(kerneltest.Node("Pad", 1, nil), x, tensor.FromInt32([]int32{1, 1}, 1, 2))
	expectErr(t, "paddings of wrong shape", err, "paddings must have shape (2, 2)")

	g := kerneltest.Rand(4, -1, 1, 3, 4)
	gp := tensor.FromInt32([]int32{1, 2, 2, 1}, 2, 2)
	kerneltest.CheckGrad(t, kerneltest.Node("Pad", 1, nil), []*tensor.Tensor{g, gp}, kerneltest.GradOptions{Wrt: []int{0}})
	kerneltest.CheckGrad(t, kerneltest.Node("PadV2", 1, nil), []*tensor.Tensor{g, gp, tensor.Scalar(tensor.Float64, 0.3)}, kerneltest.GradOptions{Wrt: []int{0, 2}})
	kerneltest.CheckGrad(t, reflect, []*tensor.Tensor{g, gp}, kerneltest.GradOptions{Wrt: []int{0}})
	kerneltest.CheckGrad(t, symmetric, []*tensor.Tensor{g, tensor.FromInt32([]int32{3, 2, 0, 4}, 2, 2)}, kerneltest.GradOptions{Wrt: []int{0}})
}

func TestConcatPackSplit(t *testing.T) {
	a, b := iota64(2, 2), f64([]int{2, 1}, 10, 11)
	n := kerneltest.Node("ConcatV2", 1, nil)
	expect(t, "ConcatV2 axis -1", kerneltest.MustForward(t, n, a, b, scalar32(-1))[0], []int{2, 3}, []float64{0, 1, 10, 2, 3, 11})
	expect(t, "Concat axis 0", kerneltest.MustForward(t, kerneltest.Node("Concat", 1, nil), scalar32(0), a, iota64(1, 2))[0], []int{3, 2}, []float64{0, 1, 2, 3, 0, 1})
	_, err := kerneltest.Forward(n, a, b, scalar32(0))
	expectErr(t, "Concat mismatch", err, "differ outside axis 0")
	_, err = kerneltest.Forward(n, a, b, scalar32(2))
	expectErr(t, "Concat axis 2", err, "out of range")
	kerneltest.CheckGrad(t, n, []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 2, 2), kerneltest.Rand(2, -1, 1, 2, 3), scalar32(1)}, kerneltest.GradOptions{Wrt: []int{0, 1}})
	kerneltest.CheckGrad(t, kerneltest.Node("Concat", 1, nil), []*tensor.Tensor{scalar32(0), kerneltest.Rand(1, -1, 1, 2, 2), kerneltest.Rand(2, -1, 1, 1, 2)}, kerneltest.GradOptions{Wrt: []int{1, 2}})

	pk := kerneltest.Node("Pack", 1, attrs{"axis": graph.IntAttr(1), "N": graph.IntAttr(2)})
	expect(t, "Pack axis 1", kerneltest.MustForward(t, pk, f64([]int{2}, 1, 2), f64([]int{2}, 3, 4))[0], []int{2, 2}, []float64{1, 3, 2, 4})
	kerneltest.CheckGrad(t, pk, []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 3), kerneltest.Rand(2, -1, 1, 3)}, kerneltest.GradOptions{})
	// Keras 3 Flatten: Pack of int32 scalars.
	expect(t, "Pack scalars", kerneltest.MustForward(t, kerneltest.Node("Pack", 1, nil), scalar32(5), scalar32(-1))[0], []int{2}, []float64{5, -1})
	_, err = kerneltest.Forward(pk, iota64(2), iota64(3))
	expectErr(t, "Pack mismatch", err, "equal types and shapes")

	up := kerneltest.Node("Unpack", 3, attrs{"axis": graph.IntAttr(-1), "num": graph.IntAttr(3)})
	parts := kerneltest.MustForward(t, up, iota64(2, 3))
	expect(t, "Unpack[1]", parts[1], []int{2}, []float64{1, 4})
	kerneltest.CheckGrad(t, up, []*tensor.Tensor{kerneltest.Rand(3, -1, 1, 2, 3)}, kerneltest.GradOptions{})

	sp := kerneltest.Node("Split", 2, attrs{"num_split": graph.IntAttr(2)})
	parts = kerneltest.MustForward(t, sp, scalar32(1), iota64(2, 4))
	expect(t, "Split[1]", parts[1], []int{2, 2}, []float64{2, 3, 6, 7})
	_, err = kerneltest.Forward(kerneltest.Node("Split", 3, attrs{"num_split": graph.IntAttr(3)}), scalar32(1), iota64(2, 4))
	expectErr(t, "Split 4 in 3", err, "equal parts")
	kerneltest.CheckGrad(t, sp, []*tensor.Tensor{scalar32(1), kerneltest.Rand(4, -1, 1, 2, 4)}, kerneltest.GradOptions{Wrt: []int{1}})
	sv := kerneltest.Node("SplitV", 2, nil)
	parts = kerneltest.MustForward(t, sv, iota64(5), i32(-1, 2), scalar32(0))
	expect(t, "SplitV[0]", parts[0], []int{3}, []float64{0, 1, 2})
	kerneltest.CheckGrad(t, sv, []*tensor.Tensor{kerneltest.Rand(5, -1, 1, 2, 5), i32(1, -1), scalar32(-1)}, kerneltest.GradOptions{Wrt: []int{0}})
	_, err = kerneltest.Forward(sv, iota64(5), i32(2, 2), scalar32(0))
	expectErr(t, "SplitV sizes", err, "do not add up")
}

// naiveTranspose3 transposes a [2,3,4] tensor by perm with index loops.
func naiveTranspose3(x *tensor.Tensor, perm []int) []float64 {
	out := make([]int, 3)
	for d, p := range perm {
		out[d] = x.Shape[p]
	}
	var res []float64
	for i := range out[0] {
		for j := range out[1] {
			for k := range out[2] {
				var src [3]int
				src[perm[0]], src[perm[1]], src[perm[2]] = i, j, k
				res = append(res, x.F64[(src[0]*x.Shape[1]+src[1])*x.Shape[2]+src[2]])
			}
		}
	}
	return res
}

func TestTransposeTile(t *testing.T) {
	n := kerneltest.Node("Transpose", 1, nil)
	expect(t, "Transpose 2x3", kerneltest.MustForward(t, n, iota64(2, 3), i32(1, 0))[0], []int{3, 2}, []float64{0, 3, 1, 4, 2, 5})
	x := iota64(2, 3, 4)
	for _, perm := range [][]int32{{2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {0, 1, 2}} {
		p := []int{int(perm[0]), int(perm[1]), int(perm[2])}
		y := kerneltest.MustForward(t, n, x, i32(perm...))[0]
		want := naiveTranspose3(x, p)
		expect(t, "Transpose", y, []int{x.Shape[p[0]], x.Shape[p[1]], x.Shape[p[2]]}, want)
		kerneltest.CheckGrad(t, n, []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 2, 3, 4), i32(perm...)}, kerneltest.GradOptions{Wrt: []int{0}})
	}
	for _, bad := range []*tensor.Tensor{i32(0, 0, 1), i32(0, 1), i32(0, 1, 3)} {
		_, err := kerneltest.Forward(n, x, bad)
		expectErr(t, "bad perm", err, "not a permutation")
	}
	tl := kerneltest.Node("Tile", 1, nil)
	expect(t, "Tile", kerneltest.MustForward(t, tl, f64([]int{1, 2}, 1, 2), i32(2, 2))[0], []int{2, 4}, []float64{1, 2, 1, 2, 1, 2, 1, 2})
	kerneltest.CheckGrad(t, tl, []*tensor.Tensor{kerneltest.Rand(2, -1, 1, 2, 3), i32(3, 2)}, kerneltest.GradOptions{Wrt: []int{0}})
}

func TestSliceGather(t *testing.T) {
	x := iota64(3, 4)
	n := kerneltest.Node("Slice", 1, nil)
	expect(t, "Slice", kerneltest.MustForward(t, n, x, i32(1, 1), i32(2, -1))[0], []int{2, 3}, []float64{5, 6, 7, 9, 10, 11})
	_, err := kerneltest.Forward(n, x, i32(2, 0), i32(2, 1))
	expectErr(t, "Slice out of bounds", err, "out of bounds")
	kerneltest.CheckGrad(t, n, []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 3, 4), i32(1, 0), i32(1, 3)}, kerneltest.GradOptions{Wrt: []int{0}})

	g := kerneltest.Node("GatherV2", 1, nil)
	expect(t, "GatherV2 axis 1", kerneltest.MustForward(t, g, x, i32(3, 0, 3), scalar32(1))[0], []int{3, 3}, []float64{3, 0, 3, 7, 4, 7, 11, 8, 11})
	expect(t, "GatherV2 2-D indices", kerneltest.MustForward(t, g, x, tensor.FromInt32([]int32{2, 0}, 2, 1), scalar32(0))[0], []int{2, 1, 4}, []float64{8, 9, 10, 11, 0, 1, 2, 3})
	_, err = kerneltest.Forward(g, x, i32(4), scalar32(1))
	expectErr(t, "GatherV2 index 4", err, "not in [0, 4)")
	kerneltest.CheckGrad(t, g, []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 3, 4), i32(1, 1, 3), scalar32(-1)}, kerneltest.GradOptions{Wrt: []int{0}})
}

// stridedCases are x[...] on x = arange(24).reshape(2, 3, 4); expected
// values derived by hand from NumPy indexing (x[i,j,k] = 12i + 4j + k).
var stridedCases = []struct {
	expr                           string
	begin, end, strides            []int32
	beginM, endM, ellM, newM, shrM int
	shape                          []int
	want                           []float64
}{
	{"x[1]", []int32{1}, []int32{2}, []int32{1}, 0, 0, 0, 0, 1, []int{3, 4},
		[]float64{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}},
	{"x[:, 1:3, ::2]", []int32{0, 1, 0}, []int32{0, 3, 0}, []int32{1, 1, 2}, 5, 5, 0, 0, 0, []int{2, 2, 2},
		[]float64{4, 6, 8, 10, 16, 18, 20, 22}},
	{"x[::-1, -1, ::-2]", []int32{0, -1, 0}, []int32{0, 0, 0}, []int32{-1, 1, -2}, 5, 5, 0, 0, 2, []int{2, 2},
		[]float64{23, 21, 11, 9}},
	{"x[..., 1]", []int32{0, 1}, []int32{0, 2}, []int32{1, 1}, 0, 0, 1, 0, 2, []int{2, 3},
		[]float64{1, 5, 9, 13, 17, 21}},
	{"x[:, newaxis, 0]", []int32{0, 0, 0}, []int32{0, 0, 1}, []int32{1, 1, 1}, 1, 1, 0, 2, 4, []int{2, 1, 4},
		[]float64{0, 1, 2, 3, 12, 13, 14, 15}},
	{"x[-1, -2:, -3:-1]", []int32{-1, -2, -3}, []int32{0, 0, -1}, []int32{1, 1, 1}, 0, 2, 0, 0, 1, []int{2, 2},
		[]float64{17, 18, 21, 22}},
	{"x[0, 1:100, -100:2]", []int32{0, 1, -100}, []int32{1, 100, 2}, []int32{1, 1, 1}, 0, 0, 0, 0, 1, []int{2, 2},
		[]float64{4, 5, 8, 9}},
	{"x[:, 2:1]", []int32{0, 2}, []int32{0, 1}, []int32{1, 1}, 1, 1, 0, 0, 0, []int{2, 0, 4}, nil},
	{"x[1, ..., newaxis]", []int32{1, 0, 0}, []int32{2, 0, 0}, []int32{1, 1, 1}, 0, 0, 2, 4, 1, []int{3, 4, 1},
		[]float64{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}},
	{"x[0, 2:0:-1, 3]", []int32{0, 2, 3}, []int32{1, 0, 4}, []int32{1, -1, 1}, 0, 0, 0, 0, 5, []int{2},
		[]float64{11, 7}},
	{"x[0, 0, :0:-1]", []int32{0, 0, 0}, []int32{1, 1, 0}, []int32{1, 1, -1}, 4, 0, 0, 0, 3, []int{3},
		[]float64{3, 2, 1}},
	{"x[1, 2, 3]", []int32{1, 2, 3}, []int32{2, 3, 4}, []int32{1, 1, 1}, 0, 0, 0, 0, 7, []int{},
		[]float64{23}},
	{"x[newaxis, ..., -1:]", []int32{0, 0, -1}, []int32{0, 0, 0}, []int32{1, 1, 1}, 0, 4, 2, 1, 0, []int{1, 2, 3, 1},
		[]float64{3, 7, 11, 15, 19, 23}},
	{"x[1::-1, ::-1]", []int32{1, 0}, []int32{0, 0}, []int32{-1, -1}, 2, 3, 0, 0, 0, []int{2, 3, 4},
		[]float64{20, 21, 22, 23, 16, 17, 18, 19, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3}},
}

func stridedNode(begM, endM, ellM, newM, shrM int) *graph.Node {
	return kerneltest.Node("StridedSlice", 1, attrs{
		"begin_mask": graph.IntAttr(begM), "end_mask": graph.IntAttr(endM), "ellipsis_mask": graph.IntAttr(ellM),
		"new_axis_mask": graph.IntAttr(newM), "shrink_axis_mask": graph.IntAttr(shrM),
	})
}

func TestStridedSlice(t *testing.T) {
	x := iota64(2, 3, 4)
	for _, tc := range stridedCases {
		n := stridedNode(tc.beginM, tc.endM, tc.ellM, tc.newM, tc.shrM)
		y := kerneltest.MustForward(t, n, x, i32(tc.begin...), i32(tc.end...), i32(tc.strides...))[0]
		expect(t, tc.expr, y, tc.shape, tc.want)
		if y.Len() > 0 {
			kerneltest.CheckGrad(t, n, []*tensor.Tensor{kerneltest.Rand(5, -1, 1, 2, 3, 4), i32(tc.begin...), i32(tc.end...), i32(tc.strides...)},
				kerneltest.GradOptions{Wrt: []int{0}})
		}
	}
	// Keras 3 Flatten: shape[0] of an int32 shape vector.
	s := kerneltest.MustForward(t, stridedNode(0, 0, 0, 0, 1), i32(7, 28, 28), i32(0), i32(1), i32(1))[0]
	if s.DType != tensor.Int32 || s.Rank() != 0 || s.I32[0] != 7 {
		t.Fatalf("shape[0] = %v, want int32 scalar 7", s)
	}
	bad := []struct {
		name                   string
		begin, end, strides    []int32
		bm, em, elm, nam, shrm int
		msg                    string
	}{
		{"stride 0", []int32{0}, []int32{1}, []int32{0}, 0, 0, 0, 0, 0, "strides[0] is 0"},
		{"shrink out of range", []int32{2}, []int32{3}, []int32{1}, 0, 0, 0, 0, 1, "out of bounds"},
		{"shrink -3", []int32{-3}, []int32{0}, []int32{1}, 0, 0, 0, 0, 1, "out of bounds"},
		{"too many indices", []int32{0, 0, 0, 0}, []int32{1, 1, 1, 1}, []int32{1, 1, 1, 1}, 0, 0, 0, 0, 0, "indexes 4 dimensions"},
		{"two ellipses", []int32{0, 0}, []int32{1, 1}, []int32{1, 1}, 0, 0, 3, 0, 0, "more than one bit"},
		{"length mismatch", []int32{0, 0}, []int32{1}, []int32{1, 1}, 0, 0, 0, 0, 0, "one length"},
	}
	for _, b := range bad {
		_, err := kerneltest.Forward(stridedNode(b.bm, b.em, b.elm, b.nam, b.shrm), x, i32(b.begin...), i32(b.end...), i32(b.strides...))
		expectErr(t, b.name, err, b.msg)
	}
}

func TestAbsurdSizesRejected(t *testing.T) {
	x := iota64(2, 2)
	big := &tensor.Tensor{DType: tensor.Int64, Shape: []int{2, 2}, I64: []int64{1 << 40, 0, 0, 0}}
	_, err := kerneltest.Forward(kerneltest.Node("Pad", 1, nil), x, big)
	expectErr(t, "huge pad", err, "too large")
	_, err = kerneltest.Forward(kerneltest.Node("Tile", 1, nil), x, &tensor.Tensor{DType: tensor.Int64, Shape: []int{2}, I64: []int64{1 << 40, 1 << 40}})
	expectErr(t, "huge tile", err, "too large")
	_, err = kerneltest.Forward(kerneltest.Node("Reshape", 1, nil), x, &tensor.Tensor{DType: tensor.Int64, Shape: []int{2}, I64: []int64{1 << 40, 1 << 40}})
	expectErr(t, "huge reshape", err, "too large")
	_, err = kerneltest.Forward(kerneltest.Node("Fill", 1, nil), &tensor.Tensor{DType: tensor.Int64, Shape: []int{2}, I64: []int64{1 << 40, 1 << 40}}, tensor.Scalar(tensor.Float32, 1))
	expectErr(t, "huge fill", err, "more than")
	_, err = kerneltest.Forward(kerneltest.Node("Split", 1, attrs{"num_split": graph.IntAttr(1 << 30)}), scalar32(0), tensor.New(tensor.Float32, 0, 2))
	expectErr(t, "huge split", err, "equal parts")
}
