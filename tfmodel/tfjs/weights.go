package tfjs

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"
	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// storageSize is the stored size of one element, as TF.js's
// DTYPE_VALUE_SIZE_MAP; 0 for types Load does not read.
func storageSize(dt string) int {
	switch dt {
	case "float32", "int32":
		return 4
	case "uint16", "float16":
		return 2
	case "uint8", "bool":
		return 1
	}
	return 0
}

// spec is a weight spec after validation.
type spec struct {
	weightSpec
	shape  []int
	stored string // the stored element type (quantization dtype or dtype)
	n      int    // elements
	bytes  int64  // stored bytes
}

func checkSpec(w weightSpec) (spec, error) {
	s := spec{weightSpec: w, stored: w.DType}
	if w.Name == "" {
		return s, fmt.Errorf("weight with no name")
	}
	s.shape = make([]int, len(w.Shape))
	for i, d := range w.Shape {
		if d < 0 || d > tensor.MaxElements {
			return s, fmt.Errorf("weight %q: bad dimension %d in shape %v", w.Name, d, w.Shape)
		}
		s.shape[i] = int(d)
	}
	if err := tensor.CheckShape(s.shape); err != nil {
		return s, fmt.Errorf("weight %q: %w", w.Name, err)
	}
	switch w.DType {
	case "float32", "int32", "bool":
	default:
		return s, fmt.Errorf("weight %q: dtype %q is not supported (float32, int32, bool)", w.Name, w.DType)
	}
	if q := w.Quantization; q != nil {
		s.stored = q.DType
		switch q.DType {
		case "uint8", "uint16":
			if q.Scale == nil || q.Min == nil {
				return s, fmt.Errorf("weight %q: %s quantization without scale and min", w.Name, q.DType)
			}
			if w.DType != "float32" && w.DType != "int32" {
				return s, fmt.Errorf("weight %q: %s quantization of a %s weight (only float32 and int32 can be quantized)", w.Name, q.DType, w.DType)
			}
		case "float16":
			if w.DType != "float32" {
				return s, fmt.Errorf("weight %q: float16 quantization of a %s weight (only float32)", w.Name, w.DType)
			}
		default:
			return s, fmt.Errorf("weight %q: unsupported quantization dtype %q (uint8, uint16, float16)", w.Name, q.DType)
		}
	}
	s.n = tensor.NumElements(s.shape)
	s.bytes = int64(s.n) * int64(storageSize(s.stored))
	return s, nil
}

// attachWeights reads each manifest group's shards (concatenated in order),
// decodes its weights and stores them in the Const nodes of the same name.
func attachWeights(gd *graphpb.GraphDef, groups []weightGroup, src source, info *Info) error {
	byName := make(map[string]*nodepb.NodeDef, len(gd.GetNode()))
	for _, n := range gd.GetNode() {
		if _, dup := byName[n.GetName()]; dup {
			return fmt.Errorf("modelTopology has two nodes named %q", n.GetName())
		}
		byName[n.GetName()] = n
	}
	seen := map[string]bool{}
	stored := map[string]bool{}
	for gi, g := range groups {
		specs := make([]spec, len(g.Weights))
		var need int64
		for i, w := range g.Weights {
			s, err := checkSpec(w)
			if err != nil {
				return fmt.Errorf("weightsManifest group %d: %w", gi, err)
			}
			if seen[s.Name] {
				return fmt.Errorf("weightsManifest group %d: weight %q listed twice", gi, s.Name)
			}
			seen[s.Name] = true
			stored[s.stored] = true
			need += s.bytes
			if need > math.MaxInt32*4 {
				return fmt.Errorf("weightsManifest group %d: weights total more than %d bytes", gi, int64(math.MaxInt32)*4)
			}
			specs[i] = s
		}
		if len(g.Paths) == 0 && need > 0 {
			return fmt.Errorf("weightsManifest group %d has weights but no paths", gi)
		}
		// Check the shard sizes before reading anything.
		var have int64
		starts := make([]int64, len(g.Paths))
		for i, p := range g.Paths {
			sz, err := src.size(p)
			if err != nil {
				return fmt.Errorf("weightsManifest group %d: shard %q: %w", gi, p, err)
			}
			starts[i] = have
			have += sz
		}
		if have != need {
			return sizeError(gi, g.Paths, starts, have, specs)
		}
		buf := make([]byte, 0, need)
		for _, p := range g.Paths {
			b, err := src.read(p)
			if err != nil {
				return fmt.Errorf("weightsManifest group %d: shard %q: %w", gi, p, err)
			}
			buf = append(buf, b...)
		}
		if int64(len(buf)) != need {
			return fmt.Errorf("weightsManifest group %d: shards %s changed size while being read", gi, strings.Join(g.Paths, ", "))
		}
		var off int64
		for _, s := range specs {
			raw := buf[off : off+s.bytes]
			off += s.bytes
			info.Weights++
			info.WeightBytes += s.bytes
			node := byName[s.Name]
			if node == nil {
				info.UnusedWeights = append(info.UnusedWeights, s.Name)
				continue
			}
			if err := attach(node, s, raw); err != nil {
				return fmt.Errorf("weightsManifest group %d (%s): %w", gi, strings.Join(g.Paths, ", "), err)
			}
		}
	}
	for _, n := range gd.GetNode() {
		if n.GetOp() == "Const" && !seen[n.GetName()] && !hasValue(n) {
			return fmt.Errorf("node %q (Const) has no weight in the weightsManifest and no inline value", n.GetName())
		}
	}
	for dt := range stored {
		info.StorageDTypes = append(info.StorageDTypes, dt)
	}
	sort.Strings(info.StorageDTypes)
	return nil
}

// hasValue reports whether a Const node carries its value inline (or is an
// empty tensor, which needs none).
func hasValue(n *nodepb.NodeDef) bool {
	t := n.GetAttr()["value"].GetTensor()
	if t == nil {
		return false
	}
	if len(t.GetTensorContent()) > 0 || len(t.GetFloatVal()) > 0 || len(t.GetDoubleVal()) > 0 ||
		len(t.GetIntVal()) > 0 || len(t.GetInt64Val()) > 0 || len(t.GetBoolVal()) > 0 ||
		len(t.GetStringVal()) > 0 || len(t.GetHalfVal()) > 0 {
		return true
	}
	shape := tensor.ShapeFromProto(t.GetTensorShape())
	return shape != nil && tensor.CheckShape(shape) == nil && tensor.NumElements(shape) == 0
}

// sizeError explains a mismatch between a group's shard bytes and its
// specs, naming the first weight that does not fit and the shard where it
// starts.
func sizeError(gi int, paths []string, starts []int64, have int64, specs []spec) error {
	var need int64
	for _, s := range specs {
		need += s.bytes
	}
	msg := fmt.Sprintf("weightsManifest group %d: shards %s hold %d bytes, the weight specs need %d", gi, strings.Join(paths, ", "), have, need)
	if have > need {
		return fmt.Errorf("%s (%d bytes too many)", msg, have-need)
	}
	var off int64
	for _, s := range specs {
		if off+s.bytes > have {
			shard := paths[len(paths)-1]
			for i := range paths {
				if starts[i] <= off {
					shard = paths[i]
				}
			}
			return fmt.Errorf("%s: weight %q (bytes %d to %d, from shard %q on) is cut short; shard truncated?", msg, s.Name, off, off+s.bytes, shard)
		}
		off += s.bytes
	}
	return fmt.Errorf("%s", msg)
}

// attach checks that node is a Const matching s and stores the decoded
// weight as its value.
func attach(node *nodepb.NodeDef, s spec, raw []byte) error {
	if node.GetOp() != "Const" {
		return fmt.Errorf("weight %q: node %q is a %s, not a Const", s.Name, node.GetName(), node.GetOp())
	}
	var dt typespb.DataType
	var content []byte
	switch s.DType {
	case "float32":
		dt = typespb.DataType_DT_FLOAT
		content = decodeFloat32(s, raw)
	case "int32":
		dt = typespb.DataType_DT_INT32
		if q := s.Quantization; q != nil {
			content = make([]byte, 4*s.n)
			for i := range s.n {
				v := math.Round(quantized(q.DType, raw, i)*(*q.Scale) + *q.Min)
				binary.LittleEndian.PutUint32(content[4*i:], uint32(int32(v)))
			}
		} else {
			content = raw
		}
	case "bool":
		dt = typespb.DataType_DT_BOOL
		content = make([]byte, len(raw))
		for i, b := range raw {
			if b != 0 {
				content[i] = 1
			}
		}
	}
	if a := node.GetAttr()["dtype"]; a != nil {
		if t, ok := a.GetValue().(*attrpb.AttrValue_Type); ok && t.Type != dt {
			return fmt.Errorf("weight %q is %s, but Const node %q has dtype %v", s.Name, s.DType, node.GetName(), t.Type)
		}
	}
	if old := node.GetAttr()["value"].GetTensor(); old != nil && old.GetTensorShape() != nil {
		if want := tensor.ShapeFromProto(old.GetTensorShape()); want != nil && !tensor.SameShape(want, s.shape) {
			return fmt.Errorf("weight %q has shape %v, but Const node %q declares %v", s.Name, s.shape, node.GetName(), want)
		}
	}
	if node.Attr == nil {
		node.Attr = map[string]*attrpb.AttrValue{}
	}
	node.Attr["value"] = &attrpb.AttrValue{Value: &attrpb.AttrValue_Tensor{Tensor: &tensorpb.TensorProto{
		Dtype:         dt,
		TensorShape:   tensor.ShapeProto(s.shape),
		TensorContent: content,
	}}}
	if node.Attr["dtype"] == nil {
		node.Attr["dtype"] = &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: dt}}
	}
	return nil
}

// quantized returns stored element i of a uint8 or uint16 weight.
func quantized(dt string, raw []byte, i int) float64 {
	if dt == "uint8" {
		return float64(raw[i])
	}
	return float64(binary.LittleEndian.Uint16(raw[2*i:]))
}

// decodeFloat32 decodes a float32 weight into little-endian float32
// bytes: raw float32, affine uint8/uint16 (v*scale + min, computed in
// float64 and rounded once to float32, as TF.js does in JavaScript doubles)
// or IEEE half precision. checkSpec has validated the quantization.
func decodeFloat32(s spec, raw []byte) []byte {
	q := s.Quantization
	if q == nil {
		return raw
	}
	out := make([]byte, 4*s.n)
	for i := range s.n {
		var v float32
		if q.DType == "float16" {
			v = Float16(binary.LittleEndian.Uint16(raw[2*i:]))
		} else {
			v = float32(quantized(q.DType, raw, i)*(*q.Scale) + *q.Min)
		}
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return out
}

// Dequantize decodes TF.js affine-quantized weights: each stored uint8 or
// uint16 (little-endian) value v becomes float32(v*scale + min).
func Dequantize(storage string, raw []byte, scale, min float64) ([]float32, error) {
	size := storageSize(storage)
	if storage != "uint8" && storage != "uint16" {
		return nil, fmt.Errorf("dequantize: storage type %q is not uint8 or uint16", storage)
	}
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("dequantize: %d bytes is not a whole number of %s values", len(raw), storage)
	}
	out := make([]float32, len(raw)/size)
	for i := range out {
		out[i] = float32(quantized(storage, raw, i)*scale + min)
	}
	return out, nil
}

// Float16 converts IEEE 754 half-precision bits to float32 exactly,
// including subnormals, infinities and NaN.
func Float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN; keep the payload
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: mant * 2^-24, normal as float32. Shift the mantissa
	// up until its leading 1 reaches the implicit-bit position.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}
