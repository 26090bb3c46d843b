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
		// A unit multiplier keeps one form for the assembly loops.
		e.mult = make([]T, len(e.shift))
		for i := range e.mult {
			e.mult[i] = 1
		}
	case fusedBN:
		e.mult, e.shift = bnAffine[T](args, s.epsilon)
	default:
		return nil, false
	}
	return e, true
}

// applyRect maps rows [i0, i1) and columns [j0, j1) of the matrix c
// (row stride ldc, one column per output channel) in place.
func (e *epilogue[T]) applyRect(c []T, ldc, i0, i1, j0, j1 int) {
	if j0 >= j1 {
		return
	}
	if haveDWKernel && e.mult != nil {
		if c32, ok := any(c).([]float32); ok {
			e32 := any(e).(*epilogue[float32])
			n8 := (j1 - j0) &^ 7
			for i := i0; i < i1; i++ {
				row := c32[i*ldc+j0 : i*ldc+j1]
				if n8 > 0 {
					epiRowAVX2(n8, &row[0], &e32.mult[j0], &e32.shift[j0], e32.lo, e32.hi)
				}
				mu, sh := e32.mult[j0+n8:j1], e32.shift[j0+n8:j1]
				for j, v := range row[n8:] {
					row[n8+j] = min(max(v*mu[j]+sh[j], e32.lo), e32.hi)
				}
			}
			return
		}
	}
	mu, sh := e.mult, e.shift
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		s := sh[j0:j1]
		if mu == nil {
			for j, v := range row {
				row[j] = min(max(v+s[j], e.lo), e.hi)
			}
			continue
		}
		m := mu[j0:j1]
		for j, v := range row {
			row[j] = min(max(v*m[j]+s[j], e.lo), e.hi)
		}
	}
}

// apply maps rows (a whole number of output pixels) in place.
func (e *epilogue[T]) apply(rows []T) {
	if k := len(e.shift); k > 0 && haveDWKernel && e.mult != nil {
		e.applyRect(rows, k, 0, len(rows)/k, 0, k)
		return
	}
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
