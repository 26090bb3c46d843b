package array

import (
	"github.com/tbviz/tbviz/tfmodel/native/array/strided"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func init() {
	kernel.Register("Slice", kernel.Def{Forward: sliceForward, Backward: sliceBackward})
	kernel.Register("StridedSlice", kernel.Def{Forward: stridedSliceForward, Backward: stridedSliceBackward})
}

// slicePlan is a strided box of the input: along each input dimension d,
// size[d] elements starting at begin[d] with step stride[d]; the result is
// then reshaped to final.
type slicePlan struct {
	begin, stride, size []int
	final               []int
}

// tables returns the index tables reading the box from an input of shape in.
func (p *slicePlan) tables(in []int) [][]int {
	st := strided.Strides(in)
	tables := make([][]int, len(in))
	for d := range in {
		t := make([]int, p.size[d])
		for i := range t {
			t[i] = (p.begin[d] + i*p.stride[d]) * st[d]
		}
		tables[d] = t
	}
	return tables
}

func (p *slicePlan) apply(x *tensor.Tensor) *tensor.Tensor {
	y := strided.Gather(x, p.size, p.tables(x.Shape), 0)
	y.Shape = p.final
	return y
}

// grad scatters g (shape final) into zeros of shape in.
func (p *slicePlan) grad(g *tensor.Tensor, in []int) *tensor.Tensor {
	dx := tensor.New(g.DType, in...)
	strided.Scatter(dx, reshaped(g, p.size), p.tables(in), strided.Sum)
	return dx
}

func slicePlanOf(c *kernel.Context, x, bt, st *tensor.Tensor) (*slicePlan, error) {
	begin, err := intArg(c, bt, "begin")
	if err != nil {
		return nil, err
	}
	size, err := intArg(c, st, "size")
	if err != nil {
		return nil, err
	}
	r := x.Rank()
	if len(begin) != r || len(size) != r {
		return nil, c.Errorf("begin %v and size %v must have one entry per dimension of %s", begin, size, tensor.ShapeString(x.Shape))
	}
	p := &slicePlan{begin: begin, size: size, stride: make([]int, r)}
	for d, n := range x.Shape {
		p.stride[d] = 1
		if size[d] == -1 {
			size[d] = n - begin[d]
		}
		if begin[d] < 0 || size[d] < 0 || begin[d]+size[d] > n {
			return nil, c.Errorf("slice begin %d, size %d out of bounds for dimension %d of size %d", begin[d], size[d], d, n)
		}
	}
	p.final = size
	return p, nil
}

func sliceForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 3); err != nil {
		return nil, err
	}
	p, err := slicePlanOf(c, in[0], in[1], in[2])
	if err != nil {
		return nil, err
	}
	return one(p.apply(in[0])), nil
}

func sliceBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return make([]*tensor.Tensor, 3), nil
	}
	p, err := slicePlanOf(c, in[0], in[1], in[2])
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{p.grad(g, in[0].Shape), nil, nil}, nil
}

// stridedSlicePlan implements TensorFlow's StridedSlice index semantics
// (as in tensorflow/core/util/strided_slice_op.cc): the sparse spec
// (begin/end/strides with masks, one entry per index expression) is
// expanded to one entry per input dimension, with the ellipsis covering
// the dimensions that no other entry names (an implicit ellipsis at the
// end when there is none); new axes add size-1 output dimensions and
// shrunk dimensions disappear from the output.
func stridedSlicePlan(c *kernel.Context, shape []int, bt, et, st *tensor.Tensor) (*slicePlan, error) {
	begin, err := intArg(c, bt, "begin")
	if err != nil {
		return nil, err
	}
	end, err := intArg(c, et, "end")
	if err != nil {
		return nil, err
	}
	strides, err := intArg(c, st, "strides")
	if err != nil {
		return nil, err
	}
	if bt.Rank() != 1 || len(end) != len(begin) || len(strides) != len(begin) {
		return nil, c.Errorf("begin %v, end %v and strides %v must be vectors of one length", begin, end, strides)
	}
	var mask [5]int
	for i, name := range []string{"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"} {
		if mask[i], err = intAttr(c.Node, name, 0); err != nil {
			return nil, c.Errorf("%v", err)
		}
	}
	beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask := mask[0], mask[1], mask[2], mask[3], mask[4]
	bit := func(m, i int) bool { return m>>uint(i)&1 != 0 }
	n := len(begin)
	if ellipsisMask&(ellipsisMask-1) != 0 {
		return nil, c.Errorf("ellipsis_mask %#b has more than one bit set", ellipsisMask)
	}
	if ellipsisMask == 0 {
		// An implicit ellipsis after the last entry.
		ellipsisMask = 1 << uint(n)
		n++
		begin, end, strides = append(begin, 0), append(end, 0), append(strides, 1)
	}
	r := len(shape)
	// Count the entries that consume input dimensions.
	consumed := 0
	for i := range n {
		switch {
		case bit(ellipsisMask, i):
			// covers the rest
		case bit(newAxisMask, i):
		default:
			consumed++
		}
	}
	if consumed > r {
		return nil, c.Errorf("slice spec indexes %d dimensions of a rank-%d input %s", consumed, r, tensor.ShapeString(shape))
	}
	p := &slicePlan{begin: make([]int, r), stride: make([]int, r), size: make([]int, r)}
	p.final = []int{}
	d := 0 // dense (input) dimension
	for i := range n {
		if bit(ellipsisMask, i) {
			cover := r - consumed
			for range cover {
				p.begin[d], p.stride[d], p.size[d] = 0, 1, shape[d]
				p.final = append(p.final, shape[d])
				d++
			}
			continue
		}
		if bit(newAxisMask, i) {
			p.final = append(p.final, 1)
			continue
		}
		dim := shape[d]
		s := strides[i]
		if s == 0 {
			return nil, c.Errorf("strides[%d] is 0", i)
		}
		if bit(shrinkMask, i) {
			x := begin[i]
			if x < 0 {
				x += dim
			}
			if x < 0 || x >= dim {
				return nil, c.Errorf("slice index %d of dimension %d out of bounds (size %d)", begin[i], d, dim)
			}
			p.begin[d], p.stride[d], p.size[d] = x, 1, 1
			d++
			continue
		}
		canon := func(x int, masked, isBegin bool) int {
			if masked {
				switch {
				case s > 0 && isBegin:
					return 0
				case s > 0:
					return dim
				case isBegin:
					return dim - 1
				default:
					return -1
				}
			}
			if x < 0 {
				x += dim
			}
			if s > 0 {
				return min(max(x, 0), dim)
			}
			return min(max(x, -1), dim-1)
		}
		b := canon(begin[i], bit(beginMask, i), true)
		e := canon(end[i], bit(endMask, i), false)
		size := 0
		if l := e - b; l != 0 && (l < 0) == (s < 0) {
			size = l / s
			if l%s != 0 {
				size++
			}
		}
		p.begin[d], p.stride[d], p.size[d] = b, s, size
		p.final = append(p.final, size)
		d++
	}
	return p, nil
}

func stridedSliceForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := checkInputs(c, in, 4); err != nil {
		return nil, err
	}
	p, err := stridedSlicePlan(c, in[0].Shape, in[1], in[2], in[3])
	if err != nil {
		return nil, err
	}
	return one(p.apply(in[0])), nil
}

func stridedSliceBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	g := dout[0]
	if !floatGrad(g) {
		return make([]*tensor.Tensor, 4), nil
	}
	p, err := stridedSlicePlan(c, in[0].Shape, in[1], in[2], in[3])
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{p.grad(g, in[0].Shape), nil, nil, nil}, nil
}
