package mathops

import (
	"math"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

type attrs = map[string]*attrpb.AttrValue

func ints32(v ...int32) *tensor.Tensor { return tensor.FromInt32(v, len(v)) }

// naiveIndex converts flat index i of shape to a multi-index.
func naiveIndex(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// naiveBroadcastAt reads x at output multi-index idx with NumPy rules.
func naiveBroadcastAt(x *tensor.Tensor, idx []int) float64 {
	off := len(idx) - x.Rank()
	flat := 0
	for d, n := range x.Shape {
		j := idx[d+off]
		if n == 1 {
			j = 0
		}
		flat = flat*n + j
	}
	return x.Float(flat)
}

func naiveBinary(f func(a, b float64) float64, a, b *tensor.Tensor, out []int) []float64 {
	res := make([]float64, tensor.NumElements(out))
	for i := range res {
		idx := naiveIndex(i, out)
		res[i] = f(naiveBroadcastAt(a, idx), naiveBroadcastAt(b, idx))
	}
	return res
}

var binCases = []struct{ a, b, out []int }{
	{[]int{}, []int{2, 3}, []int{2, 3}},
	{[]int{2, 3}, []int{}, []int{2, 3}},
	{[]int{3, 1}, []int{1, 4}, []int{3, 4}},
	{[]int{2, 3, 4}, []int{4}, []int{2, 3, 4}},
	{[]int{4}, []int{2, 3, 4}, []int{2, 3, 4}},
	{[]int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}},
	{[]int{1, 3, 1}, []int{2, 1, 5}, []int{2, 3, 5}},
	{[]int{2, 3}, []int{2, 3}, []int{2, 3}},
	{[]int{1}, []int{2, 2}, []int{2, 2}},
	{[]int{2, 2, 1, 3}, []int{2, 3}, []int{2, 2, 2, 3}},
	{[]int{0, 3}, []int{1, 3}, []int{0, 3}},
}

var binRef = map[string]func(a, b float64) float64{
	"AddV2": func(a, b float64) float64 { return a + b },
	"Sub":   func(a, b float64) float64 { return a - b },
	"Mul":   func(a, b float64) float64 { return a * b },
	"RealDiv": func(a, b float64) float64 {
		return a / b
	},
	"Maximum":           math.Max,
	"Minimum":           math.Min,
	"SquaredDifference": func(a, b float64) float64 { return (a - b) * (a - b) },
	"Pow":               math.Pow,
}

func TestBinaryBroadcastForward(t *testing.T) {
	for op, ref := range binRef {
		for ci, tc := range binCases {
			for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
				a, _ := kerneltest.Rand(uint64(ci), 0.5, 2, tc.a...).Cast(dt)
				b, _ := kerneltest.Rand(uint64(ci+50), 0.5, 2, tc.b...).Cast(dt)
				out := kerneltest.MustForward(t, kerneltest.Node(op, 1, nil), a, b)[0]
				if !tensor.SameShape(out.Shape, tc.out) || out.DType != dt {
					t.Fatalf("%s %v x %v: got %v%v, want shape %v", op, tc.a, tc.b, out.DType, out.Shape, tc.out)
				}
				want := naiveBinary(ref, a, b, tc.out)
				for i, w := range want {
					if got := out.Float(i); math.Abs(got-w) > 1e-5*math.Max(1, math.Abs(w)) {
						t.Fatalf("%s %v x %v %v [%d]: got %g want %g", op, tc.a, tc.b, dt, i, got, w)
					}
				}
			}
		}
	}
}

// Tensors large enough for the contiguous loops to be split among the
// workers (and not a multiple of the split), with outputs from
// kerneltest's NaN pool: every element must still be a op b.
func TestBinaryLargeParallel(t *testing.T) {
	cases := []struct{ a, b []int }{
		{[]int{3, 151, 257}, []int{3, 151, 257}},
		{[]int{3, 151, 257}, []int{}},
		{[]int{1}, []int{3, 151, 257}},
		{[]int{3, 151, 257}, []int{257}},
	}
	for op, ref := range binRef {
		for ci, tc := range cases {
			a, _ := kerneltest.Rand(uint64(ci), 0.5, 2, tc.a...).Cast(tensor.Float32)
			b, _ := kerneltest.Rand(uint64(ci+50), 0.5, 2, tc.b...).Cast(tensor.Float32)
			res, err := kerneltest.Forward(kerneltest.Node(op, 1, nil), a, b)
			if err != nil {
				t.Fatalf("%s %v x %v: %v", op, tc.a, tc.b, err)
			}
			want := naiveBinary(ref, a, b, []int{3, 151, 257})
			for i, w := range want {
				if got := float64(res[0].F32[i]); !(math.Abs(got-w) <= 1e-5*math.Max(1, math.Abs(w))) {
					t.Fatalf("%s %v x %v [%d]: got %g want %g", op, tc.a, tc.b, i, got, w)
				}
			}
		}
	}
}

func TestBinaryHandValues(t *testing.T) {
	a := tensor.FromFloat64([]float64{1, 2, 3}, 3, 1)
	b := tensor.FromFloat64([]float64{10, 20, 30, 40}, 1, 4)
	got := kerneltest.MustForward(t, kerneltest.Node("AddV2", 1, nil), a, b)[0]
	want := []float64{11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}
	for i, w := range want {
		if got.F64[i] != w {
			t.Fatalf("[3,1]+[1,4] = %v, want %v", got.F64, want)
		}
	}
}

func TestBinaryErrors(t *testing.T) {
	a := tensor.New(tensor.Float32, 2, 3)
	b := tensor.New(tensor.Float32, 4)
	_, err := kerneltest.Forward(kerneltest.Node("Mul", 1, nil), a, b)
	if err == nil || !strings.Contains(err.Error(), "incompatible shapes") || !strings.Contains(err.Error(), "test/Mul") {
		t.Fatalf("incompatible shapes: err = %v", err)
	}
	_, err = kerneltest.Forward(kerneltest.Node("Mul", 1, nil), a, tensor.New(tensor.Float64, 2, 3))
	if err == nil || !strings.Contains(err.Error(), "different types") {
		t.Fatalf("mixed types: err = %v", err)
	}
	_, err = kerneltest.Forward(kerneltest.Node("Mul", 1, nil), a)
	if err == nil {
		t.Fatal("one input: no error")
	}
	_, err = kerneltest.Forward(kerneltest.Node("Mul", 1, nil), tensor.New(tensor.String, 1), tensor.New(tensor.String, 1))
	if err == nil {
		t.Fatal("string operands: no error")
	}
}

func TestBinaryGrad(t *testing.T) {
	for op := range binRef {
		for ci, tc := range binCases {
			if tensor.NumElements(tc.out) == 0 {
				continue
			}
			a := kerneltest.Rand(uint64(ci), 0.5, 2, tc.a...)
			b := kerneltest.Rand(uint64(ci+100), 0.5, 2, tc.b...)
			kerneltest.CheckGrad(t, kerneltest.Node(op, 1, nil), []*tensor.Tensor{a, b}, kerneltest.GradOptions{Seed: uint64(ci)})
		}
	}
}

func TestUnary(t *testing.T) {
	ref := map[string]func(float64) float64{
		"Rsqrt": func(x float64) float64 { return 1 / math.Sqrt(x) }, "Sqrt": math.Sqrt,
		"Square": func(x float64) float64 { return x * x }, "Neg": func(x float64) float64 { return -x },
		"Exp": math.Exp, "Log": math.Log, "Abs": math.Abs,
		"Reciprocal": func(x float64) float64 { return 1 / x }, "Inv": func(x float64) float64 { return 1 / x },
	}
	for op, f := range ref {
		x := kerneltest.Rand(3, 0.2, 3, 2, 3)
		if op == "Abs" || op == "Neg" || op == "Square" {
			x = kerneltest.Rand(3, -3, 3, 2, 3)
		}
		x32, _ := x.Cast(tensor.Float32)
		y := kerneltest.MustForward(t, kerneltest.Node(op, 1, nil), x32)[0]
		for i := range x.F64 {
			if w := f(x.F64[i]); math.Abs(y.Float(i)-w) > 1e-5*math.Max(1, math.Abs(w)) {
				t.Errorf("%s(%g) = %g, want %g", op, x.F64[i], y.Float(i), w)
			}
		}
		kerneltest.CheckGrad(t, kerneltest.Node(op, 1, nil), []*tensor.Tensor{x}, kerneltest.GradOptions{})
	}
}

func TestAddN(t *testing.T) {
	xs := []*tensor.Tensor{kerneltest.Rand(1, -1, 1, 2, 2), kerneltest.Rand(2, -1, 1, 2, 2), kerneltest.Rand(3, -1, 1, 2, 2)}
	y := kerneltest.MustForward(t, kerneltest.Node("AddN", 1, nil), xs...)[0]
	for i := range y.F64 {
		if w := xs[0].F64[i] + xs[1].F64[i] + xs[2].F64[i]; math.Abs(y.F64[i]-w) > 1e-12 {
			t.Fatalf("AddN[%d] = %g, want %g", i, y.F64[i], w)
		}
	}
	kerneltest.CheckGrad(t, kerneltest.Node("AddN", 1, nil), xs, kerneltest.GradOptions{})
	if _, err := kerneltest.Forward(kerneltest.Node("AddN", 1, nil), xs[0], tensor.New(tensor.Float64, 3)); err == nil {
		t.Fatal("AddN of different shapes: no error")
	}
}

// naiveReduce reduces x over the axes in red with f, starting at init.
func naiveReduce(x *tensor.Tensor, red []bool, init float64, f func(acc, v float64) float64) ([]int, []float64) {
	var kept []int
	for d, n := range x.Shape {
		if red[d] {
			kept = append(kept, 1)
		} else {
			kept = append(kept, n)
		}
	}
	out := make([]float64, tensor.NumElements(kept))
	for i := range out {
		out[i] = init
	}
	for i := range x.Len() {
		idx := naiveIndex(i, x.Shape)
		o := 0
		for d := range idx {
			j := idx[d]
			if red[d] {
				j = 0
			}
			o = o*kept[d] + j
		}
		out[o] = f(out[o], x.Float(i))
	}
	return kept, out
}

func TestReduce(t *testing.T) {
	type rf struct {
		init float64
		f    func(a, v float64) float64
	}
	ops := map[string]rf{
		"Sum":  {0, func(a, v float64) float64 { return a + v }},
		"Mean": {0, func(a, v float64) float64 { return a + v }},
		"Max":  {math.Inf(-1), math.Max},
		"Min":  {math.Inf(1), math.Min},
		"Prod": {1, func(a, v float64) float64 { return a * v }},
	}
	axesCases := [][]int32{{0}, {1}, {-1}, {0, 2}, {1, 2}, {0, 1, 2}, {}, {-3, -2}}
	x := kerneltest.Rand(7, 0.5, 1.5, 2, 3, 4)
	for op, r := range ops {
		for _, axes := range axesCases {
			for _, keep := range []bool{false, true} {
				red := make([]bool, 3)
				count := 1
				for _, a := range axes {
					if a < 0 {
						a += 3
					}
					red[a] = true
					count *= x.Shape[a]
				}
				kept, want := naiveReduce(x, red, r.init, r.f)
				if op == "Mean" {
					for i := range want {
						want[i] /= float64(count)
					}
				}
				n := kerneltest.Node(op, 1, attrs{"keep_dims": graph.BoolAttr(keep)})
				ax := tensor.FromInt32(axes, len(axes))
				y := kerneltest.MustForward(t, n, x, ax)[0]
				wantShape := kept
				if !keep {
					wantShape = nil
					for d, k := range kept {
						if !red[d] {
							wantShape = append(wantShape, k)
						}
					}
				}
				if !tensor.SameShape(y.Shape, wantShape) {
					t.Fatalf("%s axes %v keep %v: shape %v, want %v", op, axes, keep, y.Shape, wantShape)
				}
				for i, w := range want {
					if math.Abs(y.F64[i]-w) > 1e-12*math.Max(1, math.Abs(w)) {
						t.Fatalf("%s axes %v: [%d] = %g, want %g", op, axes, i, y.F64[i], w)
					}
				}
				kerneltest.CheckGrad(t, n, []*tensor.Tensor{x, ax}, kerneltest.GradOptions{Wrt: []int{0}})
			}
		}
	}
	// int64 axes and a scalar axis.
	y := kerneltest.MustForward(t, kerneltest.Node("Mean", 1, nil), x, &tensor.Tensor{DType: tensor.Int64, I64: []int64{1}})[0]
	if !tensor.SameShape(y.Shape, []int{2, 4}) {
		t.Fatalf("Mean over scalar int64 axis: shape %v", y.Shape)
	}
}

func TestReduceTiesAndZeros(t *testing.T) {
	// Max with a tie: the gradient is split evenly between the two maxima.
	x := tensor.FromFloat64([]float64{1, 3, 3, 2}, 4)
	n := kerneltest.Node("Max", 1, nil)
	out := kerneltest.MustForward(t, n, x, ints32(0))
	if out[0].F64[0] != 3 {
		t.Fatalf("max = %v", out[0].F64)
	}
	def, _ := lookup("Max")
	g, err := def.Backward(ctx(n), []*tensor.Tensor{x, ints32(0)}, out, []*tensor.Tensor{tensor.FromFloat64([]float64{1})})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0, 0.5, 0.5, 0}; !equal(g[0].F64, want) {
		t.Fatalf("Max grad with tie = %v, want %v", g[0].F64, want)
	}
	// Prod with one and two zeros.
	for _, tc := range []struct{ x, want []float64 }{
		{[]float64{2, 0, 3}, []float64{0, 6, 0}},
		{[]float64{0, 0, 3}, []float64{0, 0, 0}},
		{[]float64{2, 4, 3}, []float64{12, 6, 8}},
	} {
		x := tensor.FromFloat64(tc.x, 3)
		pn := kerneltest.Node("Prod", 1, nil)
		def, _ := lookup("Prod")
		g, err := def.Backward(ctx(pn), []*tensor.Tensor{x, ints32(0)}, nil, []*tensor.Tensor{tensor.FromFloat64([]float64{1})})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(g[0].F64, tc.want) {
			t.Fatalf("Prod grad of %v = %v, want %v", tc.x, g[0].F64, tc.want)
		}
	}
}

func TestReduceErrors(t *testing.T) {
	x := tensor.New(tensor.Float32, 2, 3)
	for _, axes := range []*tensor.Tensor{ints32(2), ints32(-3), tensor.New(tensor.Float32, 1), tensor.New(tensor.Int32, 1, 1)} {
		if _, err := kerneltest.Forward(kerneltest.Node("Sum", 1, nil), x, axes); err == nil {
			t.Errorf("Sum over axes %v of a rank-2 tensor: no error", axes)
		} else if !strings.Contains(err.Error(), "test/Sum") {
			t.Errorf("error does not name the node: %v", err)
		}
	}
}

func TestReduceInt(t *testing.T) {
	x := tensor.FromInt32([]int32{2, 3, 4}, 3)
	y := kerneltest.MustForward(t, kerneltest.Node("Prod", 1, nil), x, ints32(0))[0]
	if y.DType != tensor.Int32 || y.I32[0] != 24 {
		t.Fatalf("Prod of int32 [2 3 4] = %v", y)
	}
}

func naiveMatMul(a, b *tensor.Tensor, ta, tb bool) []float64 {
	at := func(x *tensor.Tensor, i, j int, tr bool) float64 {
		if tr {
			i, j = j, i
		}
		return x.Float(i*x.Shape[1] + j)
	}
	m, k := a.Shape[0], a.Shape[1]
	if ta {
		m, k = k, m
	}
	n := b.Shape[1]
	if tb {
		n = b.Shape[0]
	}
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			for l := range k {
				out[i*n+j] += at(a, i, l, ta) * at(b, l, j, tb)
			}
		}
	}
	return out
}

func TestMatMul(t *testing.T) {
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			as, bs := []int{3, 4}, []int{4, 5}
			if ta {
				as = []int{4, 3}
			}
			if tb {
				bs = []int{5, 4}
			}
			a := kerneltest.Rand(1, -1, 1, as...)
			b := kerneltest.Rand(2, -1, 1, bs...)
			n := kerneltest.Node("MatMul", 1, attrs{"transpose_a": graph.BoolAttr(ta), "transpose_b": graph.BoolAttr(tb)})
			want := naiveMatMul(a, b, ta, tb)
			for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
				a2, _ := a.Cast(dt)
				b2, _ := b.Cast(dt)
				y := kerneltest.MustForward(t, n, a2, b2)[0]
				if !tensor.SameShape(y.Shape, []int{3, 5}) {
					t.Fatalf("MatMul shape %v", y.Shape)
				}
				for i, w := range want {
					if math.Abs(y.Float(i)-w) > 1e-5 {
						t.Fatalf("MatMul ta=%v tb=%v %v [%d] = %g, want %g", ta, tb, dt, i, y.Float(i), w)
					}
				}
			}
			kerneltest.CheckGrad(t, n, []*tensor.Tensor{a, b}, kerneltest.GradOptions{})
		}
	}
	_, err := kerneltest.Forward(kerneltest.Node("MatMul", 1, nil), tensor.New(tensor.Float32, 2, 3), tensor.New(tensor.Float32, 2, 3))
	if err == nil || !strings.Contains(err.Error(), "inner dimensions") {
		t.Fatalf("mismatched MatMul: err = %v", err)
	}
	_, err = kerneltest.Forward(kerneltest.Node("MatMul", 1, nil), tensor.New(tensor.Float32, 2, 3, 1), tensor.New(tensor.Float32, 2, 3))
	if err == nil {
		t.Fatal("rank-3 MatMul: no error")
	}
}

func TestBatchMatMul(t *testing.T) {
	a := kerneltest.Rand(1, -1, 1, 2, 1, 3, 4)
	b := kerneltest.Rand(2, -1, 1, 3, 5, 4)
	n := kerneltest.Node("BatchMatMulV2", 1, attrs{"adj_y": graph.BoolAttr(true)})
	y := kerneltest.MustForward(t, n, a, b)[0]
	if !tensor.SameShape(y.Shape, []int{2, 3, 3, 5}) {
		t.Fatalf("shape %v", y.Shape)
	}
	for i := range 2 {
		for j := range 3 {
			am := tensor.FromFloat64(a.F64[i*12:(i+1)*12], 3, 4)
			bm := tensor.FromFloat64(b.F64[j*20:(j+1)*20], 5, 4)
			want := naiveMatMul(am, bm, false, true)
			got := y.F64[(i*3+j)*15 : (i*3+j+1)*15]
			for k := range want {
				if math.Abs(got[k]-want[k]) > 1e-12 {
					t.Fatalf("batch (%d,%d)[%d] = %g, want %g", i, j, k, got[k], want[k])
				}
			}
		}
	}
	kerneltest.CheckGrad(t, n, []*tensor.Tensor{a, b}, kerneltest.GradOptions{})
}

func TestCast(t *testing.T) {
	x := tensor.FromFloat32([]float32{-1.7, 0, 2.9}, 3)
	n := kerneltest.Node("Cast", 1, attrs{"SrcT": graph.TypeAttr(tensor.Float32), "DstT": graph.TypeAttr(tensor.Int32)})
	y := kerneltest.MustForward(t, n, x)[0]
	if y.DType != tensor.Int32 || y.I32[0] != -1 || y.I32[1] != 0 || y.I32[2] != 2 {
		t.Fatalf("Cast float32->int32 = %v, want [-1 0 2]", y)
	}
	nb := kerneltest.Node("Cast", 1, attrs{"DstT": graph.TypeAttr(tensor.Bool)})
	if y := kerneltest.MustForward(t, nb, x)[0]; y.B[0] != true || y.B[1] != false {
		t.Fatalf("Cast to bool = %v", y)
	}
	x64 := kerneltest.Rand(1, -1, 1, 4)
	nf := kerneltest.Node("Cast", 1, attrs{"SrcT": graph.TypeAttr(tensor.Float64), "DstT": graph.TypeAttr(tensor.Float64)})
	kerneltest.CheckGrad(t, nf, []*tensor.Tensor{x64}, kerneltest.GradOptions{})
	if _, err := kerneltest.Forward(n, tensor.New(tensor.Float64, 1)); err == nil {
		t.Fatal("SrcT mismatch: no error")
	}
}

func BenchmarkMulBroadcastChannel(b *testing.B) {
	x := tensor.New(tensor.Float32, 1, 112, 112, 64)
	s := tensor.New(tensor.Float32, 64)
	n := kerneltest.Node("Mul", 1, nil)
	b.SetBytes(int64(x.Len() * 4))
	for b.Loop() {
		kerneltest.MustForward(b, n, x, s)
	}
}

func BenchmarkMulBroadcastBatchChannel(b *testing.B) {
	x := tensor.New(tensor.Float32, 4, 56, 56, 64)
	s := tensor.New(tensor.Float32, 4, 1, 1, 64)
	n := kerneltest.Node("Mul", 1, nil)
	b.SetBytes(int64(x.Len() * 4))
	for b.Loop() {
		kerneltest.MustForward(b, n, x, s)
	}
}

func TestIntBinary(t *testing.T) {
	a := tensor.FromInt32([]int32{7, -7, 6}, 3)
	b := tensor.FromInt32([]int32{2}, 1)
	for op, want := range map[string][]int32{"Div": {3, -3, 3}, "Mul": {14, -14, 12}, "AddV2": {9, -5, 8}, "Maximum": {7, 2, 6}} {
		y := kerneltest.MustForward(t, kerneltest.Node(op, 1, nil), a, b)[0]
		if y.DType != tensor.Int32 || y.I32[0] != want[0] || y.I32[1] != want[1] || y.I32[2] != want[2] {
			t.Errorf("int32 %s = %v, want %v", op, y, want)
		}
	}
	if _, err := kerneltest.Forward(kerneltest.Node("Div", 1, nil), a, tensor.FromInt32([]int32{0}, 1)); err == nil {
		t.Error("integer division by zero: no error")
	}
	if _, err := kerneltest.Forward(kerneltest.Node("RealDiv", 1, nil), a, b); err == nil {
		t.Error("RealDiv of int32: no error")
	}
}
