package array_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/native/kernel/kerneltest"
	"github.com/tbviz/tbviz/tfmodel/tensor"

	_ "github.com/tbviz/tbviz/tfmodel/native/array"
	_ "github.com/tbviz/tbviz/tfmodel/native/image"
	_ "github.com/tbviz/tbviz/tfmodel/native/mathops"
	_ "github.com/tbviz/tbviz/tfmodel/native/nn"
)

// The ops of packages array, mathops, image and this helper's part of nn.
var robustOps = []string{
	"AddV2", "Add", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "SquaredDifference", "Pow",
	"Rsqrt", "Sqrt", "Square", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Inv", "AddN",
	"Sum", "Mean", "Max", "Min", "Prod", "MatMul", "BatchMatMulV2", "Cast",
	"Const", "Placeholder", "PlaceholderWithDefault", "Identity", "IdentityN", "StopGradient", "NoOp",
	"ReadVariableOp", "VarHandleOp", "Reshape", "Squeeze", "ExpandDims", "Pad", "PadV2", "MirrorPad",
	"ConcatV2", "Concat", "Transpose", "Shape", "Size", "StridedSlice", "Slice", "Pack", "Unpack",
	"Fill", "ZerosLike", "OnesLike", "Split", "SplitV", "Tile", "Range", "GatherV2",
	"ResizeBilinear", "ResizeNearestNeighbor",
	"MaxPool", "AvgPool", "MaxPoolV2", "FusedBatchNorm", "FusedBatchNormV3", "Softmax", "LogSoftmax",
}

func robustPool() []*tensor.Tensor {
	return []*tensor.Tensor{
		tensor.Scalar(tensor.Float32, 2),
		tensor.Scalar(tensor.Int32, -1),
		tensor.FromInt32([]int32{2, -1}, 2),
		tensor.FromInt32([]int32{1, 0, 0, 1}, 2, 2),
		tensor.FromInt32([]int32{5, 1 << 30, -7}, 3),
		kerneltest.Rand(1, -1, 1, 2, 3),
		kerneltest.Rand(2, -1, 1, 1, 2, 2, 1),
		tensor.New(tensor.Float32, 0),
		tensor.New(tensor.Float32, 3, 0, 2),
		{DType: tensor.Bool, Shape: []int{2}, B: []bool{true, false}},
		{DType: tensor.String, Shape: []int{1}, Str: [][]byte{[]byte("x")}},
		{DType: tensor.Int64, Shape: []int{2}, I64: []int64{-1 << 40, 3}},
		tensor.FromFloat32([]float32{1, 2, 3}, 3),
	}
}

// TestNoPanics feeds every op random combinations of odd tensors (wrong
// ranks, dtypes, empty, huge shape values) and odd attributes; each call
// must return a result or an error, never panic. Backward runs on the
// combinations whose forward succeeded.
func TestNoPanics(t *testing.T) {
	pool := robustPool()
	r := rand.New(rand.NewPCG(1, 2))
	attrSets := []func(n *graph.Node){
		func(n *graph.Node) {},
		func(n *graph.Node) {
			n.Attrs["keep_dims"] = graph.BoolAttr(true)
			n.Attrs["transpose_a"] = graph.BoolAttr(true)
			n.Attrs["shrink_axis_mask"] = graph.IntAttr(1)
			n.Attrs["new_axis_mask"] = graph.IntAttr(2)
			n.Attrs["axis"] = graph.IntAttr(-1)
			n.Attrs["num_split"] = graph.IntAttr(2)
			n.Attrs["mode"] = graph.StringAttr("REFLECT")
			n.Attrs["ksize"] = graph.IntsAttr(1, 2, 2, 1)
			n.Attrs["strides"] = graph.IntsAttr(1, 1, 1, 1)
			n.Attrs["padding"] = graph.StringAttr("SAME")
			n.Attrs["is_training"] = graph.BoolAttr(false)
			n.Attrs["DstT"] = graph.TypeAttr(tensor.Int32)
			n.Attrs["squeeze_dims"] = graph.IntsAttr(0)
		},
		func(n *graph.Node) {
			n.Attrs["ellipsis_mask"] = graph.IntAttr(3)
			n.Attrs["axis"] = graph.IntAttr(7)
			n.Attrs["num_split"] = graph.IntAttr(0)
			n.Attrs["mode"] = graph.StringAttr("WRAP")
			n.Attrs["ksize"] = graph.IntsAttr(1, 9, 9)
			n.Attrs["strides"] = graph.IntsAttr(1, 0, 1, 1)
			n.Attrs["padding"] = graph.StringAttr("VALID")
			n.Attrs["DstT"] = graph.TypeAttr(tensor.String)
			n.Attrs["align_corners"] = graph.BoolAttr(true)
			n.Attrs["half_pixel_centers"] = graph.BoolAttr(true)
		},
	}
	for _, op := range robustOps {
		d, ok := kernel.Lookup(op)
		if !ok {
			t.Fatalf("op %s is not registered", op)
		}
		for trial := range 90 {
			nin := trial % 6
			in := make([]*tensor.Tensor, nin)
			for i := range in {
				in[i] = pool[r.IntN(len(pool))]
			}
			n := kerneltest.Node(op, 6, nil)
			attrSets[trial%len(attrSets)](n)
			c := &kernel.Context{Node: n}
			desc := fmt.Sprintf("%s attrs#%d inputs %v", op, trial%len(attrSets), in)
			var out []*tensor.Tensor
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s: forward panicked: %v", desc, p)
						err = fmt.Errorf("panic")
					}
				}()
				out, err = d.Forward(c, in)
			}()
			if err != nil || d.Backward == nil {
				continue
			}
			dout := make([]*tensor.Tensor, len(out))
			for i, o := range out {
				if o != nil && o.DType.IsFloat() {
					dout[i] = o
				}
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s: backward panicked: %v", desc, p)
					}
				}()
				_, _ = d.Backward(c, in, out, dout)
			}()
		}
	}
}
