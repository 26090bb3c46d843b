package nn

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// FusedBatchNorm, FusedBatchNormV2 (5 outputs) and FusedBatchNormV3 (6
// outputs) over channels-last tensors, inputs x, scale, offset, mean,
// variance.
//
// Inference (is_training=false): y = (x-mean)·rsqrt(variance+ε)·scale +
// offset; batch_mean and reserve_space_1 pass mean through, batch_variance
// and reserve_space_2 pass variance through, reserve_space_3 is empty.
//
// Training (is_training=true, TensorFlow's default when the attribute is
// absent): y normalises with the batch statistics (biased variance), as
// TensorFlow does; batch_mean and batch_variance are the batch mean and
// the Bessel-corrected batch variance, blended with the mean/variance
// inputs by exponential_avg_factor f when f ≠ 1 (out = (1-f)·input +
// f·batch). reserve_space_1/2 hold the batch mean and biased variance.
//
// The backward pass differentiates every output (y, batch_mean,
// batch_variance, reserve_space_1/2) with respect to x, scale, offset,
// mean and variance.

func init() {
	for op, nout := range map[string]int{"FusedBatchNorm": 5, "FusedBatchNormV2": 5, "FusedBatchNormV3": 6} {
		kernel.Register(op, kernel.Def{
			Forward:    bnormForward(nout),
			Backward:   bnormBackward,
			KeepInputs: []int{0, 1, 3, 4},
		})
	}
}

type bnormParams struct {
	eps, factor float64
	training    bool
	c, m        int // channels, elements per channel
}

func bnormSetup(c *kernel.Context, in []*tensor.Tensor) (bnormParams, error) {
	var p bnormParams
	n := c.Node
	if err := checkNHWC(n); err != nil {
		return p, err
	}
	p.eps, p.factor, p.training = 1e-4, 1, true
	var err error
	if n.HasAttr("epsilon") {
		if p.eps, err = n.AttrFloat("epsilon"); err != nil {
			return p, err
		}
	}
	if n.HasAttr("exponential_avg_factor") {
		if p.factor, err = n.AttrFloat("exponential_avg_factor"); err != nil {
			return p, err
		}
	}
	if n.HasAttr("is_training") {
		if p.training, err = n.AttrBool("is_training"); err != nil {
			return p, err
		}
	}
	if len(in) != 5 {
		return p, c.Errorf("expected 5 inputs (x, scale, offset, mean, variance), got %d", len(in))
	}
	x := in[0]
	if x == nil {
		return p, c.Errorf("input x is missing")
	}
	if !x.DType.IsFloat() {
		return p, c.Errorf("x must be float32 or float64, got %v", x.DType)
	}
	if x.Rank() < 2 {
		return p, c.Errorf("x must have channels last and rank >= 2, got shape %s", tensor.ShapeString(x.Shape))
	}
	p.c = x.Shape[x.Rank()-1]
	p.m = x.Len() / max(p.c, 1)
	names := []string{"x", "scale", "offset", "mean", "variance"}
	for i := 1; i < 5; i++ {
		t := in[i]
		if t == nil {
			continue // not kept for the backward pass
		}
		if t.DType != x.DType {
			return p, c.Errorf("%s is %v, x is %v", names[i], t.DType, x.DType)
		}
		// In training, mean and variance may be empty (not used when f=1).
		if p.training && i >= 3 && t.Len() == 0 {
			continue
		}
		if t.Rank() != 1 || t.Shape[0] != p.c {
			return p, c.Errorf("%s has shape %s, want (%d,) for %d channels", names[i], tensor.ShapeString(t.Shape), p.c, p.c)
		}
	}
	if p.training && p.factor != 1 && (in[3] != nil && in[3].Len() == 0 || in[4] != nil && in[4].Len() == 0) {
		return p, c.Errorf("exponential_avg_factor %g needs mean and variance inputs of %d channels", p.factor, p.c)
	}
	return p, nil
}

// bnormStats returns the per-channel mean and biased variance of x.
func bnormStats[T tensor.Float](x []T, c int) (mean, variance []float64) {
	mean = make([]float64, c)
	variance = make([]float64, c)
	m := len(x) / c
	for i, v := range x {
		mean[i%c] += float64(v)
	}
	for ch := range mean {
		mean[ch] /= float64(m)
	}
	for i, v := range x {
		d := float64(v) - mean[i%c]
		variance[i%c] += d * d
	}
	for ch := range variance {
		variance[ch] /= float64(m)
	}
	return mean, variance
}

func bnormCompute[T tensor.Float](p bnormParams, x, scale, offset, mean, variance []T, outs []*tensor.Tensor) {
	c := p.c
	mu := make([]float64, c)
	vr := make([]float64, c)
	if p.training {
		mu, vr = bnormStats(x, c)
	} else {
		for ch := range c {
			mu[ch], vr[ch] = float64(mean[ch]), float64(variance[ch])
		}
	}
	a := make([]T, c) // y = x·a + b
	b := make([]T, c)
	for ch := range c {
		inv := 1 / math.Sqrt(vr[ch]+p.eps)
		a[ch] = T(inv * float64(scale[ch]))
		b[ch] = T(float64(offset[ch]) - mu[ch]*inv*float64(scale[ch]))
	}
	y := tensor.Data[T](outs[0])
	for i := 0; i < len(x); i += c {
		xr, yr := x[i:i+c], y[i:i+c]
		for ch, v := range xr {
			yr[ch] = v*a[ch] + b[ch]
		}
	}
	bm, bv := tensor.Data[T](outs[1]), tensor.Data[T](outs[2])
	r1, r2 := tensor.Data[T](outs[3]), tensor.Data[T](outs[4])
	for ch := range c {
		if !p.training {
			bm[ch], bv[ch], r1[ch], r2[ch] = mean[ch], variance[ch], mean[ch], variance[ch]
			continue
		}
		unbiased := vr[ch]
		if p.m > 1 {
			unbiased *= float64(p.m) / float64(p.m-1)
		}
		m, v := mu[ch], unbiased
		if p.factor != 1 {
			m = (1-p.factor)*float64(mean[ch]) + p.factor*m
			v = (1-p.factor)*float64(variance[ch]) + p.factor*v
		}
		bm[ch], bv[ch], r1[ch], r2[ch] = T(m), T(v), T(mu[ch]), T(vr[ch])
	}
}

func bnormForward(nout int) kernel.ForwardFunc {
	return func(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		p, err := bnormSetup(c, in)
		if err != nil {
			return nil, err
		}
		for i, t := range in {
			if t == nil {
				return nil, c.Errorf("input %d is missing", i)
			}
		}
		x := in[0]
		outs := make([]*tensor.Tensor, nout)
		outs[0] = tensor.NewLike(x)
		for i := 1; i < 5; i++ {
			outs[i] = tensor.New(x.DType, p.c)
		}
		if nout == 6 {
			outs[5] = tensor.New(x.DType, 0)
		}
		if x.DType == tensor.Float32 {
			bnormCompute(p, x.F32, in[1].F32, in[2].F32, in[3].F32, in[4].F32, outs)
		} else {
			bnormCompute(p, x.F64, in[1].F64, in[2].F64, in[3].F64, in[4].F64, outs)
		}
		return outs, nil
	}
}

func bnormBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	p, err := bnormSetup(c, in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	for i, g := range dout[:min(len(dout), 5)] {
		if g != nil && g.DType != x.DType {
			return nil, c.Errorf("gradient of output %d is %v, x is %v", i, g.DType, x.DType)
		}
	}
	if dout[0] != nil && !tensor.SameShape(dout[0].Shape, x.Shape) {
		return nil, c.Errorf("gradient of y has shape %s, x has %s", tensor.ShapeString(dout[0].Shape), tensor.ShapeString(x.Shape))
	}
	if x.DType == tensor.Float32 {
		return bnormGrad[float32](p, in, dout), nil
	}
	return bnormGrad[float64](p, in, dout), nil
}

func bnormOpt[T tensor.Float](t *tensor.Tensor) []T {
	if t == nil || t.Len() == 0 {
		return nil
	}
	return tensor.Data[T](t)
}

func bnormGrad[T tensor.Float](p bnormParams, in, dout []*tensor.Tensor) []*tensor.Tensor {
	c := p.c
	x := tensor.Data[T](in[0])
	scale := tensor.Data[T](in[1])
	mean, variance := bnormOpt[T](in[3]), bnormOpt[T](in[4])
	dy := bnormOpt[T](dout[0])
	var gOut [5][]T
	for i := 1; i < 5 && i < len(dout); i++ {
		gOut[i] = bnormOpt[T](dout[i])
	}
	mu := make([]float64, c)
	vr := make([]float64, c)
	if p.training {
		mu, vr = bnormStats(x, c)
	} else {
		for ch := range c {
			mu[ch], vr[ch] = float64(mean[ch]), float64(variance[ch])
		}
	}
	inv := make([]float64, c)
	for ch := range c {
		inv[ch] = 1 / math.Sqrt(vr[ch]+p.eps)
	}
	// Per-channel sums of dy and dy·(x-mu).
	sdy := make([]float64, c)
	sdyx := make([]float64, c)
	for i, d := range dy {
		ch := i % c
		sdy[ch] += float64(d)
		sdyx[ch] += float64(d) * (float64(x[i]) - mu[ch])
	}
	dx := tensor.NewLike(in[0])
	dxv := tensor.Data[T](dx)
	dscale := tensor.New(in[0].DType, c)
	doffset := tensor.New(in[0].DType, c)
	var dmean, dvar *tensor.Tensor
	for ch := range c {
		tensor.Data[T](dscale)[ch] = T(sdyx[ch] * inv[ch])
		tensor.Data[T](doffset)[ch] = T(sdy[ch])
	}
	m := float64(p.m)
	if !p.training {
		dmean = tensor.New(in[0].DType, c)
		dvar = tensor.New(in[0].DType, c)
		for ch := range c {
			s := float64(scale[ch])
			dm := -sdy[ch] * s * inv[ch]
			dv := -0.5 * sdyx[ch] * s * inv[ch] * inv[ch] * inv[ch]
			for _, k := range []int{1, 3} {
				if gOut[k] != nil {
					dm += float64(gOut[k][ch])
				}
			}
			for _, k := range []int{2, 4} {
				if gOut[k] != nil {
					dv += float64(gOut[k][ch])
				}
			}
			tensor.Data[T](dmean)[ch] = T(dm)
			tensor.Data[T](dvar)[ch] = T(dv)
		}
		for i, d := range dy {
			ch := i % c
			dxv[i] = T(float64(d) * float64(scale[ch]) * inv[ch])
		}
		return []*tensor.Tensor{dx, dscale, doffset, dmean, dvar}
	}
	// Training: y depends on x through the batch statistics too.
	gm, gv := gOut[1], gOut[2]
	for i := range x {
		ch := i % c
		xm := float64(x[i]) - mu[ch]
		var d float64
		if dy != nil {
			xhat := xm * inv[ch]
			d = float64(scale[ch]) * inv[ch] / m * (m*float64(dy[i]) - sdy[ch] - xhat*sdyx[ch]*inv[ch])
		}
		if gm != nil {
			d += p.factor * float64(gm[ch]) / m
		}
		if gv != nil && p.m > 1 {
			d += p.factor * float64(gv[ch]) * 2 * xm / (m - 1)
		}
		if g := gOut[3]; g != nil { // reserve_space_1: batch mean
			d += float64(g[ch]) / m
		}
		if g := gOut[4]; g != nil { // reserve_space_2: biased batch variance
			d += float64(g[ch]) * 2 * xm / m
		}
		dxv[i] = T(d)
	}
	if p.factor != 1 && mean != nil && variance != nil {
		dmean = tensor.New(in[0].DType, c)
		dvar = tensor.New(in[0].DType, c)
		for ch := range c {
			if gm != nil {
				tensor.Data[T](dmean)[ch] = T((1 - p.factor) * float64(gm[ch]))
			}
			if gv != nil {
				tensor.Data[T](dvar)[ch] = T((1 - p.factor) * float64(gv[ch]))
			}
		}
	}
	return []*tensor.Tensor{dx, dscale, doffset, dmean, dvar}
}
