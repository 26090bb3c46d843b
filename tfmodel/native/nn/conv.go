package nn

import (
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("Conv2D", kernel.Def{
		Forward:    conv2DKernelForward,
		Backward:   conv2DKernelBackward,
		KeepInputs: []int{0, 1},
		Check:      checkConv2D,
	})
}

// nnInputShape returns the statically known shape of input i of n, or nil.
func nnInputShape(n *graph.Node, i int) []int {
	if i >= len(n.Inputs) || n.Inputs[i].Node == nil {
		return nil
	}
	e := n.Inputs[i]
	if e.Index >= len(e.Node.OutShapes) {
		return nil
	}
	return e.Node.OutShapes[e.Index]
}

// checkStaticConv checks what can be checked of a convolution's input and
// filter shapes before any run (ranks and, when known, channel counts).
func checkStaticConv(n *graph.Node) error {
	xs, fs := nnInputShape(n, 0), nnInputShape(n, 1)
	if xs != nil && len(xs) != 4 {
		return fmt.Errorf("node %s: input has shape %s; want rank 4 (NHWC)", n, tensor.ShapeString(xs))
	}
	if fs != nil && len(fs) != 4 {
		return fmt.Errorf("node %s: filter has shape %s; want rank 4 (height, width, in, out)", n, tensor.ShapeString(fs))
	}
	if xs != nil && fs != nil && xs[3] >= 0 && fs[2] >= 0 && xs[3] != fs[2] {
		return fmt.Errorf("node %s: input has %d channels but filter %s expects %d", n, xs[3], tensor.ShapeString(fs), fs[2])
	}
	return nil
}

func checkConv2D(n *graph.Node) error {
	if _, err := parseConvParams(n); err != nil {
		return err
	}
	return checkStaticConv(n)
}

// checkFloatPair checks that x and f are float tensors of one type and the
// given ranks.
func checkFloatPair(c *kernel.Context, x, f *tensor.Tensor, what string, xRank, fRank int) error {
	if x == nil || f == nil {
		return c.Errorf("missing input or %s", what)
	}
	if !x.DType.IsFloat() {
		return c.Errorf("input is %v; want float32 or float64", x.DType)
	}
	if f.DType != x.DType {
		return c.Errorf("%s is %v but input is %v", what, f.DType, x.DType)
	}
	if x.Rank() != xRank {
		return c.Errorf("input has shape %s; want rank %d", tensor.ShapeString(x.Shape), xRank)
	}
	if f.Rank() != fRank {
		return c.Errorf("%s has shape %s; want rank %d", what, tensor.ShapeString(f.Shape), fRank)
	}
	return nil
}

// conv2DSetup validates a Conv2D's input [n,h,w,c] and HWIO filter and
// computes its geometry.
func conv2DSetup(c *kernel.Context, x, f *tensor.Tensor) (convGeom, error) {
	p, err := parseConvParams(c.Node)
	if err != nil {
		return convGeom{}, err
	}
	if err := checkFloatPair(c, x, f, "filter", 4, 4); err != nil {
		return convGeom{}, err
	}
	if f.Shape[2] != x.Shape[3] {
		return convGeom{}, c.Errorf("input %s has %d channels but filter %s expects %d", tensor.ShapeString(x.Shape), x.Shape[3], tensor.ShapeString(f.Shape), f.Shape[2])
	}
	g, err := p.geometry(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], f.Shape[0], f.Shape[1])
	if err != nil {
		return g, c.Errorf("input %s, filter %s: %v", tensor.ShapeString(x.Shape), tensor.ShapeString(f.Shape), err)
	}
	g.outCh, g.mult = f.Shape[3], 1
	if err := tensor.CheckShape([]int{g.n, g.oh, g.ow, g.outCh}); err != nil {
		return g, c.Errorf("output: %v", err)
	}
	return g, nil
}

func (g *convGeom) outShape() []int { return []int{g.n, g.oh, g.ow, g.outCh} }

// isPointwise reports whether the convolution is a 1x1, stride-1 product
// with no padding, so the NHWC input is already the im2col matrix.
func (g *convGeom) isPointwise() bool {
	return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.padT == 0 && g.padL == 0 && g.oh == g.h && g.ow == g.w
}

// im2colBudget bounds the im2col scratch (elements) of one chunk of rows.
const im2colBudget = 1 << 20

// chunkRows returns how many output pixels one im2col chunk holds.
func (g *convGeom) chunkRows() int {
	k := max(g.kh*g.kw*g.c, 1)
	return max(im2colBudget/k, 64)
}

// conv2DCompute writes the convolution of x with the HWIO filter f into
// out ([n, oh, ow, outCh]), then applies epi (optional) to it, tile by
// tile as the GEMM finishes them.
func conv2DCompute[T tensor.Float](g *convGeom, x, f, out []T, epi *epilogue[T]) {
	rows := g.n * g.oh * g.ow
	k := g.kh * g.kw * g.c
	oc := g.outCh
	product := func(r0, r1 int, a []T, lda int) {
		dst := out[r0*oc : r1*oc]
		if epi == nil {
			nnGemm(false, false, r1-r0, oc, lda, 1, a, lda, f, oc, 0, dst, oc)
			return
		}
		nnGemmEpi(false, false, r1-r0, oc, lda, 1, a, lda, f, oc, 0, dst, oc, func(i0, i1, j0, j1 int) {
			epi.applyRect(dst, oc, i0, i1, j0, j1)
		})
	}
	if g.isPointwise() {
		// The NHWC input is the GEMM's left matrix.
		product(0, rows, x, g.c)
		return
	}
	step := g.chunkRows()
	cols := nnGetScratch[T](min(step, rows) * k)
	for r0 := 0; r0 < rows; r0 += step {
		r1 := min(r0+step, rows)
		im2col(g, x, r0, r1, cols)
		product(r0, r1, cols, k)
	}
	nnPutScratch(cols)
}

// conv2DGrad computes dx (same shape as x) and df (same as f) from dy.
// Either destination may be nil to skip it; both are overwritten.
func conv2DGrad[T tensor.Float](g *convGeom, x, f, dy, dx, df []T) {
	rows := g.n * g.oh * g.ow
	k := g.kh * g.kw * g.c
	if g.isPointwise() {
		if dx != nil {
			nnGemm(false, true, rows, g.c, g.outCh, 1, dy, g.outCh, f, g.outCh, 0, dx, g.c)
		}
		if df != nil {
			nnGemm(true, false, g.c, g.outCh, rows, 1, x, g.c, dy, g.outCh, 0, df, g.outCh)
		}
		return
	}
	if dx != nil {
		clear(dx)
	}
	if df != nil {
		clear(df)
	}
	step := g.chunkRows()
	buf := nnGetScratch[T](min(step, rows) * k)
	for r0 := 0; r0 < rows; r0 += step {
		r1 := min(r0+step, rows)
		dyc := dy[r0*g.outCh : r1*g.outCh]
		if df != nil {
			im2col(g, x, r0, r1, buf)
			nnGemm(true, false, k, g.outCh, r1-r0, 1, buf, k, dyc, g.outCh, 1, df, g.outCh)
		}
		if dx != nil {
			nnGemm(false, true, r1-r0, k, g.outCh, 1, dyc, g.outCh, f, g.outCh, 0, buf, k)
			col2imAdd(g, buf, r0, r1, dx)
		}
	}
	nnPutScratch(buf)
}

func conv2DKernelForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 {
		return nil, c.Errorf("want 2 inputs (input, filter), got %d", len(in))
	}
	g, err := conv2DSetup(c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	out := c.Output(in[0].DType, g.outShape()...)
	if in[0].DType == tensor.Float32 {
		conv2DCompute(&g, in[0].F32, in[1].F32, out.F32, nil)
	} else {
		conv2DCompute(&g, in[0].F64, in[1].F64, out.F64, nil)
	}
	return []*tensor.Tensor{out}, nil
}

func conv2DKernelBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 2 || len(dout) != 1 {
		return nil, c.Errorf("backward wants 2 inputs and 1 output gradient")
	}
	if dout[0] == nil {
		return []*tensor.Tensor{nil, nil}, nil
	}
	g, err := conv2DSetup(c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	if err := checkGradShape(c, dout[0], in[0].DType, g.outShape()); err != nil {
		return nil, err
	}
	dx, df := tensor.NewLike(in[0]), tensor.NewLike(in[1])
	if in[0].DType == tensor.Float32 {
		conv2DGrad(&g, in[0].F32, in[1].F32, dout[0].F32, dx.F32, df.F32)
	} else {
		conv2DGrad(&g, in[0].F64, in[1].F64, dout[0].F64, dx.F64, df.F64)
	}
	return []*tensor.Tensor{dx, df}, nil
}

// checkGradShape checks an upstream gradient against its output's type and
// shape.
func checkGradShape(c *kernel.Context, dy *tensor.Tensor, dt tensor.DType, shape []int) error {
	if dy.DType != dt || !tensor.SameShape(dy.Shape, shape) {
		return c.Errorf("upstream gradient is %v%s; want %v%s", dy.DType, tensor.ShapeString(dy.Shape), dt, tensor.ShapeString(shape))
	}
	return nil
}
