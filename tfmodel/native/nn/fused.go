package nn

import (
	"fmt"
	"math"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// The fused ops written by TensorFlow's grappler remapper and by the TF.js
// converter: a convolution or matrix product followed by an epilogue of
// fused_ops applied to its output, taking num_args extra inputs:
//
//	["BiasAdd"]                            args: bias
//	["BiasAdd", act]                       args: bias (, alpha for Prelu)
//	["BiasAdd", "Add"(, act)]              args: bias, addend (residual; same shape as the output)
//	["FusedBatchNorm"(, act)]              args: scale, offset, mean, variance (attr epsilon)
//
// act is one of Relu, Relu6, Elu, Selu, LeakyRelu (attr leakyrelu_alpha),
// Prelu (slopes as the last arg; TF.js), Sigmoid, Tanh, Softplus; names are
// matched without regard to case, as TF.js lower-cases them.

func init() {
	def := kernel.Def{
		Forward:     fusedKernelForward,
		Backward:    fusedKernelBackward,
		KeepOutputs: []int{0},
		Check:       checkFused,
	}
	for _, op := range []string{"_FusedConv2D", "_FusedDepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "_FusedMatMul"} {
		kernel.Register(op, def)
	}
}

type fusedKind uint8

const (
	fusedBias    fusedKind = iota // BiasAdd
	fusedBiasAdd                  // BiasAdd then Add (residual)
	fusedBN                       // FusedBatchNorm (inference form)
)

// fusedSpec is a parsed fused_ops list.
type fusedSpec struct {
	kind    fusedKind
	act     activation
	numArgs int
	epsilon float64
}

// supportedFused lists the accepted fused_ops for error messages.
const supportedFused = `["BiasAdd"], ["BiasAdd", act], ["BiasAdd", "Add"], ["BiasAdd", "Add", act], ["FusedBatchNorm"], ["FusedBatchNorm", act] with act in Relu, Relu6, Elu, Selu, LeakyRelu, Prelu, Sigmoid, Tanh, Softplus`

func parseFusedSpec(n *graph.Node) (fusedSpec, error) {
	var s fusedSpec
	ops, err := n.AttrStrings("fused_ops")
	if err != nil {
		return s, err
	}
	numArgs, err := n.AttrInt("num_args")
	if err != nil {
		return s, err
	}
	if n.HasAttr("num_host_args") {
		if h, err := n.AttrInt("num_host_args"); err != nil || h != 0 {
			return s, fmt.Errorf("node %s: num_host_args must be 0 (host arguments are not supported)", n)
		}
	}
	alpha, eps := 0.2, 1e-4
	if n.HasAttr("leakyrelu_alpha") {
		if alpha, err = n.AttrFloat("leakyrelu_alpha"); err != nil {
			return s, err
		}
	}
	if n.HasAttr("epsilon") {
		if eps, err = n.AttrFloat("epsilon"); err != nil {
			return s, err
		}
	}
	s.epsilon = eps
	bad := func() (fusedSpec, error) {
		return s, fmt.Errorf("node %s: unsupported fused_ops %q; supported: %s", n, ops, supportedFused)
	}
	rest := ops
	if len(rest) == 0 {
		return bad()
	}
	switch toLowerASCII(rest[0]) {
	case "biasadd":
		s.kind, s.numArgs = fusedBias, 1
		rest = rest[1:]
		if len(rest) > 0 {
			if l := toLowerASCII(rest[0]); l == "add" || l == "addv2" {
				s.kind, s.numArgs = fusedBiasAdd, 2
				rest = rest[1:]
			}
		}
	case "fusedbatchnorm", "fusedbatchnormv2", "fusedbatchnormv3":
		s.kind, s.numArgs = fusedBN, 4
		rest = rest[1:]
	default:
		return bad()
	}
	if len(rest) > 1 {
		return bad()
	}
	if len(rest) == 1 {
		if s.act, err = activationByName(rest[0], alpha); err != nil {
			return bad()
		}
		if s.act.name == "Prelu" {
			s.numArgs++
		}
	}
	if numArgs != s.numArgs {
		return s, fmt.Errorf("node %s: fused_ops %q take %d args, but num_args is %d", n, ops, s.numArgs, numArgs)
	}
	if s.kind == fusedBN && !(s.epsilon >= 0) {
		return s, fmt.Errorf("node %s: epsilon %g must not be negative", n, s.epsilon)
	}
	return s, nil
}

func checkFused(n *graph.Node) error {
	if _, err := parseFusedSpec(n); err != nil {
		return err
	}
	if n.Op == "_FusedMatMul" {
		_, _, err := matMulTransposes(n)
		return err
	}
	if _, err := parseConvParams(n); err != nil {
		return err
	}
	return checkStaticConv(n)
}

func matMulTransposes(n *graph.Node) (ta, tb bool, err error) {
	if n.HasAttr("transpose_a") {
		if ta, err = n.AttrBool("transpose_a"); err != nil {
			return
		}
	}
	if n.HasAttr("transpose_b") {
		tb, err = n.AttrBool("transpose_b")
	}
	return
}

// fusedCore is the product a fused op starts with.
type fusedCore[T tensor.Float] struct {
	outShape []int
	// compute writes the product into out, then applies epi (optional).
	compute func(out []T, epi *epilogue[T])
	// grad writes the gradients of the two operands given that of the
	// product.
	grad func(dc, dx, df []T)
}

func buildCore[T tensor.Float](c *kernel.Context, x, f *tensor.Tensor) (fusedCore[T], error) {
	var core fusedCore[T]
	if c.Node.Op == "_FusedMatMul" {
		return buildMatMulCore[T](c, x, f)
	}
	var g convGeom
	var err error
	depthwise := isDepthwiseOp(c.Node)
	if depthwise {
		g, err = depthwiseSetup(c, x, f)
	} else {
		g, err = conv2DSetup(c, x, f)
	}
	if err != nil {
		return core, err
	}
	xd, fd := tensor.Data[T](x), tensor.Data[T](f)
	core.outShape = g.outShape()
	if depthwise {
		core.compute = func(out []T, epi *epilogue[T]) { depthwiseCompute(&g, xd, fd, out, epi) }
		core.grad = func(dc, dx, df []T) { depthwiseGrad(&g, xd, fd, dc, dx, df) }
	} else {
		core.compute = func(out []T, epi *epilogue[T]) { conv2DCompute(&g, xd, fd, out, epi) }
		core.grad = func(dc, dx, df []T) { conv2DGrad(&g, xd, fd, dc, dx, df) }
	}
	return core, nil
}

func buildMatMulCore[T tensor.Float](c *kernel.Context, a, b *tensor.Tensor) (fusedCore[T], error) {
	var core fusedCore[T]
	ta, tb, err := matMulTransposes(c.Node)
	if err != nil {
		return core, err
	}
	if err := checkFloatPair(c, a, b, "b", 2, 2); err != nil {
		return core, err
	}
	m, k := a.Shape[0], a.Shape[1]
	if ta {
		m, k = k, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if tb {
		kb, n = n, kb
	}
	if k != kb {
		return core, c.Errorf("matrix product of %s (transpose_a=%v) and %s (transpose_b=%v): inner dimensions %d and %d differ",
			tensor.ShapeString(a.Shape), ta, tensor.ShapeString(b.Shape), tb, k, kb)
	}
	if err := tensor.CheckShape([]int{m, n}); err != nil {
		return core, c.Errorf("output: %v", err)
	}
	ad, bd := tensor.Data[T](a), tensor.Data[T](b)
	lda, ldb := a.Shape[1], b.Shape[1]
	core.outShape = []int{m, n}
	core.compute = func(out []T, epi *epilogue[T]) {
		nnGemm(ta, tb, m, n, k, 1, ad, lda, bd, ldb, 0, out, n)
		if epi != nil {
			epi.applyParallel(out)
		}
	}
	core.grad = func(dc, da, db []T) {
		switch {
		case !ta && !tb:
			nnGemm(false, true, m, k, n, 1, dc, n, bd, ldb, 0, da, lda)
			nnGemm(true, false, k, n, m, 1, ad, lda, dc, n, 0, db, ldb)
		case !ta && tb:
			nnGemm(false, false, m, k, n, 1, dc, n, bd, ldb, 0, da, lda)
			nnGemm(true, false, n, k, m, 1, dc, n, ad, lda, 0, db, ldb)
		case ta && !tb:
			nnGemm(false, true, k, m, n, 1, bd, ldb, dc, n, 0, da, lda)
			nnGemm(false, false, k, n, m, 1, ad, lda, dc, n, 0, db, ldb)
		default:
			nnGemm(true, true, k, m, n, 1, bd, ldb, dc, n, 0, da, lda)
			nnGemm(true, true, n, k, m, 1, dc, n, ad, lda, 0, db, ldb)
		}
	}
	return core, nil
}

// checkFusedArgs validates the epilogue arguments against the product's
// output shape.
func checkFusedArgs(c *kernel.Context, s fusedSpec, dt tensor.DType, args []*tensor.Tensor, out []int) error {
	if len(args) != s.numArgs {
		return c.Errorf("want %d args after the two operands, got %d", s.numArgs, len(args))
	}
	ch := out[len(out)-1]
	names := map[fusedKind][]string{fusedBias: {"bias"}, fusedBiasAdd: {"bias", "addend"}, fusedBN: {"scale", "offset", "mean", "variance"}}[s.kind]
	for i, a := range args {
		name := "Prelu slopes"
		if i < len(names) {
			name = names[i]
		}
		switch {
		case a == nil:
			return c.Errorf("missing %s", name)
		case a.DType != dt:
			return c.Errorf("%s is %v; want %v like the input", name, a.DType, dt)
		case name == "addend":
			if !tensor.SameShape(a.Shape, out) {
				return c.Errorf("addend has shape %s; want the output shape %s", tensor.ShapeString(a.Shape), tensor.ShapeString(out))
			}
		case name == "Prelu slopes":
			if err := checkSlopeShape(a.Shape, out); err != nil {
				return c.Errorf("%v", err)
			}
			if a.Len() == 0 && tensor.NumElements(out) > 0 {
				return c.Errorf("empty Prelu slopes")
			}
		default:
			if a.Rank() != 1 || a.Shape[0] != ch {
				return c.Errorf("%s has shape %s; want (%d,), one per output channel", name, tensor.ShapeString(a.Shape), ch)
			}
		}
	}
	return nil
}

// bnAffine returns the per-channel multiplier scale/sqrt(var+eps) and
// shift offset - mean·multiplier of an inference batch norm.
func bnAffine[T tensor.Float](args []*tensor.Tensor, eps float64) (mult, shift []T) {
	scale, offset, mean, variance := tensor.Data[T](args[0]), tensor.Data[T](args[1]), tensor.Data[T](args[2]), tensor.Data[T](args[3])
	mult, shift = make([]T, len(scale)), make([]T, len(scale))
	for i := range scale {
		mult[i] = T(float64(scale[i]) / math.Sqrt(float64(variance[i])+eps))
		shift[i] = offset[i] - mean[i]*mult[i]
	}
	return mult, shift
}

// fusedPreActivation applies the epilogue up to the activation to the
// product v, in place.
func fusedPreActivation[T tensor.Float](s fusedSpec, v []T, args []*tensor.Tensor) {
	switch s.kind {
	case fusedBias, fusedBiasAdd:
		addBias(v, tensor.Data[T](args[0]))
		if s.kind == fusedBiasAdd {
			for i, a := range tensor.Data[T](args[1]) {
				v[i] += a
			}
		}
	case fusedBN:
		mult, shift := bnAffine[T](args, s.epsilon)
		k := len(mult)
		for r := 0; r+k <= len(v); r += k {
			row := v[r : r+k]
			for j := range row {
				row[j] = row[j]*mult[j] + shift[j]
			}
		}
	}
}

func (s fusedSpec) slopes(args []*tensor.Tensor) *tensor.Tensor {
	if s.act.name == "Prelu" {
		return args[len(args)-1]
	}
	return nil
}

func dataOrNil[T tensor.Float](t *tensor.Tensor) []T {
	if t == nil {
		return nil
	}
	return tensor.Data[T](t)
}

func fusedForward[T tensor.Float](c *kernel.Context, s fusedSpec, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	core, err := buildCore[T](c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	args := in[2:]
	if err := checkFusedArgs(c, s, in[0].DType, args, core.outShape); err != nil {
		return nil, err
	}
	out := c.Output(tensor.DTypeOf[T](), core.outShape...)
	v := tensor.Data[T](out)
	if epi, ok := fastEpilogue[T](s, args); ok {
		core.compute(v, epi)
		return []*tensor.Tensor{out}, nil
	}
	core.compute(v, nil)
	fusedPreActivation(s, v, args)
	applyActivation(s.act, v, dataOrNil[T](s.slopes(args)))
	return []*tensor.Tensor{out}, nil
}

func fusedBackward[T tensor.Float](c *kernel.Context, s fusedSpec, in []*tensor.Tensor, y, dyT *tensor.Tensor) ([]*tensor.Tensor, error) {
	core, err := buildCore[T](c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	args := in[2:]
	if err := checkFusedArgs(c, s, in[0].DType, args, core.outShape); err != nil {
		return nil, err
	}
	if err := checkGradShape(c, dyT, in[0].DType, core.outShape); err != nil {
		return nil, err
	}
	dy := tensor.Data[T](dyT)
	slopes := dataOrNil[T](s.slopes(args))
	// The pre-activation z is recomputed when the output does not
	// determine the gradient (batch norm needs the product itself).
	var prod, z, yv []T
	if s.kind == fusedBN || needsInput(s.act, slopes) {
		prod = make([]T, len(dy))
		core.compute(prod, nil)
		z = append([]T(nil), prod...)
		fusedPreActivation(s, z, args)
	} else {
		if y == nil {
			return nil, c.Errorf("backward: forward output not kept")
		}
		if err := checkGradShape(c, y, in[0].DType, core.outShape); err != nil {
			return nil, err
		}
		yv = tensor.Data[T](y)
	}
	grads := make([]*tensor.Tensor, len(in))
	dz := make([]T, len(dy))
	activationGrad(s.act, c.Relu, z, yv, slopes, dy, dz)
	if slopes != nil {
		ds := tensor.NewLike(args[len(args)-1])
		preluAlphaGrad(z, yv, slopes, dy, tensor.Data[T](ds))
		grads[len(in)-1] = ds
	}
	ch := core.outShape[len(core.outShape)-1]
	dc := dz
	switch s.kind {
	case fusedBias, fusedBiasAdd:
		db := tensor.NewFloat[T](ch)
		sumBias(dz, tensor.Data[T](db))
		grads[2] = db
		if s.kind == fusedBiasAdd {
			da := tensor.NewFloat[T](core.outShape...)
			copy(tensor.Data[T](da), dz)
			grads[3] = da
		}
	case fusedBN:
		scale, mean, variance := tensor.Data[T](args[0]), tensor.Data[T](args[2]), tensor.Data[T](args[3])
		mult, _ := bnAffine[T](args, s.epsilon)
		dScale, dOffset, dMean, dVar := tensor.NewFloat[T](ch), tensor.NewFloat[T](ch), tensor.NewFloat[T](ch), tensor.NewFloat[T](ch)
		ds, do := tensor.Data[T](dScale), tensor.Data[T](dOffset)
		dxhat := make([]T, ch) // Σ dz·(prod-mean)
		dc = make([]T, len(dz))
		for r := 0; r+ch <= len(dz); r += ch {
			for j := 0; j < ch; j++ {
				g := dz[r+j]
				do[j] += g
				dxhat[j] += g * (prod[r+j] - mean[j])
				dc[r+j] = g * mult[j]
			}
		}
		dm, dv := tensor.Data[T](dMean), tensor.Data[T](dVar)
		for j := range ch {
			inv := 1 / math.Sqrt(float64(variance[j])+s.epsilon)
			ds[j] = T(float64(dxhat[j]) * inv)
			dm[j] = -do[j] * mult[j]
			dv[j] = T(-0.5 * float64(dxhat[j]) * float64(scale[j]) * inv * inv * inv)
		}
		grads[2], grads[3], grads[4], grads[5] = dScale, dOffset, dMean, dVar
	}
	dx, df := tensor.NewLike(in[0]), tensor.NewLike(in[1])
	core.grad(dc, tensor.Data[T](dx), tensor.Data[T](df))
	grads[0], grads[1] = dx, df
	return grads, nil
}

func fusedSetup(c *kernel.Context, in []*tensor.Tensor) (fusedSpec, error) {
	s, err := parseFusedSpec(c.Node)
	if err != nil {
		return s, err
	}
	if len(in) != 2+s.numArgs {
		return s, c.Errorf("want %d inputs (2 operands and %d args), got %d", 2+s.numArgs, s.numArgs, len(in))
	}
	if in[0] == nil || !in[0].DType.IsFloat() {
		return s, c.Errorf("input must be float32 or float64")
	}
	return s, nil
}

func fusedKernelForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	s, err := fusedSetup(c, in)
	if err != nil {
		return nil, err
	}
	if in[0].DType == tensor.Float32 {
		return fusedForward[float32](c, s, in)
	}
	return fusedForward[float64](c, s, in)
}

func fusedKernelBackward(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	s, err := fusedSetup(c, in)
	if err != nil {
		return nil, err
	}
	if len(dout) != 1 || len(out) != 1 {
		return nil, c.Errorf("backward wants 1 output and its gradient")
	}
	if dout[0] == nil {
		return make([]*tensor.Tensor, len(in)), nil
	}
	if in[0].DType == tensor.Float32 {
		return fusedBackward[float32](c, s, in, out[0], dout[0])
	}
	return fusedBackward[float64](c, s, in, out[0], dout[0])
}
