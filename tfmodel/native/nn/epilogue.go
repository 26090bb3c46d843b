package nn

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// epilogue is a per-output-channel affine map followed by a clamp,
// y = min(max(v·mult + shift, lo), hi): the bias, batch norm, ReLU and
// ReLU6 of a fused convolution, applied while the output is in cache
// instead of in separate passes. NaN propagates as in applyActivation.
type epilogue[T tensor.Float] struct {
	mult   []T // nil: 1
	shift  []T
	lo, hi T // -Inf, +Inf for no activation
}

// fastEpilogue returns the epilogue of s when it is of that form (bias or
// batch norm, then nothing, Relu or Relu6).
func fastEpilogue[T tensor.Float](s fusedSpec, args []*tensor.Tensor) (*epilogue[T], bool) {
	e := &epilogue[T]{lo: T(math.Inf(-1)), hi: T(math.Inf(1))}
	switch s.act.name {
	case "":
	case "Relu":
		e.lo = 0
	case "Relu6":
		e.lo, e.hi = 0, 6
	default:
		return nil, false
	}
	switch s.kind {
	case fusedBias:
		e.shift = tensor.Data[T](args[0])
	case fusedBN:
		e.mult, e.shift = bnAffine[T](args, s.epsilon)
	default:
		return nil, false
	}
	return e, true
}

// apply maps rows (a whole number of output pixels) in place.
func (e *epilogue[T]) apply(rows []T) {
	k := len(e.shift)
	lo, hi := e.lo, e.hi
	for r := 0; r+k <= len(rows); r += k {
		row := rows[r : r+k]
		sh := e.shift[:len(row)]
		if e.mult == nil {
			for j, v := range row {
				row[j] = min(max(v+sh[j], lo), hi)
			}
			continue
		}
		mu := e.mult[:len(row)]
		for j, v := range row {
			row[j] = min(max(v*mu[j]+sh[j], lo), hi)
		}
	}
}

// applyParallel is apply split across workers on pixel boundaries.
func (e *epilogue[T]) applyParallel(v []T) {
	k := len(e.shift)
	if k == 0 {
		return
	}
	px := len(v) / k
	nnParallelFor(px, max(1, 16384/k), func(lo, hi int) { e.apply(v[lo*k : hi*k]) })
}
