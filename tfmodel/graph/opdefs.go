package graph

import (
	"fmt"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	opdefpb "github.com/wamuir/graft/tensorflow/core/framework/op_def_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// The built-in op table: for each op type, its output arguments (so that
// FunctionDef references "node:output_arg:index" can be turned into flat
// output indices) and the default values of its attributes (which
// SavedModels strip). It follows TensorFlow's OpDef registrations; the
// graph's own stripped_op_list, when a loader passes it, fills in ops that
// are missing here.

// outArg is one output argument of an op: a single tensor, or a list whose
// length is given by an int attribute (numberAttr) or by the length of a
// list(type) attribute (typeListAttr).
type outArg struct {
	name         string
	numberAttr   string
	typeListAttr string
}

// opDef is what the builder needs to know about an op type.
type opDef struct {
	outputs  []outArg
	defaults map[string]*attrpb.AttrValue
}

// attrs is shorthand for a defaults map.
type attrs = map[string]*attrpb.AttrValue

func one(name string) []outArg { return []outArg{{name: name}} }
func many(names ...string) []outArg {
	out := make([]outArg, len(names))
	for i, n := range names {
		out[i] = outArg{name: n}
	}
	return out
}
func listN(name, attr string) []outArg { return []outArg{{name: name, numberAttr: attr}} }
func listT(name, attr string) []outArg { return []outArg{{name: name, typeListAttr: attr}} }

func int32Type() *attrpb.AttrValue { return TypeAttr(tensor.Int32) }
func int64Type() *attrpb.AttrValue { return TypeAttr(tensor.Int64) }
func unknownShape() *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Shape{Shape: &shapepb.TensorShapeProto{UnknownRank: true}}}
}
func emptyList() *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{}}}
}

// merge returns the union of default maps (later maps win).
func merge(ms ...attrs) attrs {
	out := attrs{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var (
	nhwc        = attrs{"data_format": StringAttr("NHWC")}
	dilations   = attrs{"dilations": IntsAttr(1, 1, 1, 1)}
	explicitPad = attrs{"explicit_paddings": emptyList()}
	reduction   = attrs{"keep_dims": BoolAttr(false), "Tidx": int32Type()}
	resize      = attrs{"align_corners": BoolAttr(false), "half_pixel_centers": BoolAttr(false)}
	fusedBN     = attrs{
		"epsilon":                FloatAttr(0.0001),
		"exponential_avg_factor": FloatAttr(1),
		"data_format":            StringAttr("NHWC"),
		"is_training":            BoolAttr(true),
	}
	fusedArgs = attrs{
		"fused_ops":       emptyList(),
		"epsilon":         FloatAttr(0.0001),
		"leakyrelu_alpha": FloatAttr(0.2),
		"num_args":        IntAttr(0),
		"num_host_args":   IntAttr(0),
	}
	callAttrs = attrs{
		"config":        StringAttr(""),
		"config_proto":  StringAttr(""),
		"executor_type": StringAttr(""),
	}
	conv2D = merge(nhwc, dilations, explicitPad, attrs{"use_cudnn_on_gpu": BoolAttr(true)})
	bn5    = many("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2")
	bn6    = many("y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2", "reserve_space_3")
)

var opTable = map[string]*opDef{
	// Convolutions and pooling.
	"Conv2D":                      {one("output"), conv2D},
	"DepthwiseConv2dNative":       {one("output"), merge(nhwc, dilations, explicitPad)},
	"Conv2DBackpropInput":         {one("output"), conv2D},
	"_FusedConv2D":                {one("output"), merge(conv2D, fusedArgs, attrs{"filter_format": StringAttr("HWIO")})},
	"FusedDepthwiseConv2dNative":  {one("output"), merge(nhwc, dilations, explicitPad, fusedArgs)},
	"_FusedDepthwiseConv2dNative": {one("output"), merge(nhwc, dilations, explicitPad, fusedArgs)},
	"MaxPool":                     {one("output"), merge(nhwc, explicitPad)},
	"AvgPool":                     {one("output"), nhwc},
	"BiasAdd":                     {one("output"), nhwc},
	"DepthToSpace":                {one("output"), nhwc},
	"SpaceToDepth":                {one("output"), nhwc},

	// Activations.
	"Relu":      {one("activations"), nil},
	"Relu6":     {one("activations"), nil},
	"Elu":       {one("activations"), nil},
	"Selu":      {one("activations"), nil},
	"Softplus":  {one("activations"), nil},
	"Softsign":  {one("activations"), nil},
	"LeakyRelu": {one("activations"), attrs{"alpha": FloatAttr(0.2)}},
	"Prelu":     {one("activations"), nil}, // TF.js graph-model op
	"Sigmoid":   {one("y"), nil},
	"Tanh":      {one("y"), nil},
	"Softmax":   {one("softmax"), nil},
	// LogSoftmax's output arg is named "logsoftmax" in TensorFlow's OpDef.
	"LogSoftmax": {one("logsoftmax"), nil},

	// Normalisation.
	"FusedBatchNorm":   {bn5, fusedBN},
	"FusedBatchNormV2": {bn5, merge(fusedBN, attrs{"U": TypeAttr(tensor.Float32)})},
	"FusedBatchNormV3": {bn6, merge(fusedBN, attrs{"U": TypeAttr(tensor.Float32)})},
	"_FusedBatchNormEx": {bn6, merge(fusedBN, attrs{
		"U":               TypeAttr(tensor.Float32),
		"num_side_inputs": IntAttr(0),
		"activation_mode": StringAttr("Identity"),
	})},

	// Reductions.
	"Mean":   {one("output"), reduction},
	"Max":    {one("output"), reduction},
	"Min":    {one("output"), reduction},
	"Sum":    {one("output"), reduction},
	"Prod":   {one("output"), reduction},
	"All":    {one("output"), reduction},
	"Any":    {one("output"), reduction},
	"ArgMax": {one("output"), attrs{"output_type": int64Type(), "Tidx": int32Type()}},
	"ArgMin": {one("output"), attrs{"output_type": int64Type(), "Tidx": int32Type()}},

	// Matrix products.
	"MatMul": {one("product"), attrs{
		"transpose_a": BoolAttr(false), "transpose_b": BoolAttr(false),
		"grad_a": BoolAttr(false), "grad_b": BoolAttr(false),
	}},
	"_FusedMatMul": {one("product"), merge(fusedArgs, attrs{
		"transpose_a": BoolAttr(false), "transpose_b": BoolAttr(false),
	})},
	"BatchMatMul":   {one("output"), attrs{"adj_x": BoolAttr(false), "adj_y": BoolAttr(false)}},
	"BatchMatMulV2": {one("output"), attrs{"adj_x": BoolAttr(false), "adj_y": BoolAttr(false)}},
	"Einsum":        {one("output"), nil},

	// Element-wise binary ops.
	"AddV2":             {one("z"), nil},
	"Add":               {one("z"), nil},
	"Sub":               {one("z"), nil},
	"Mul":               {one("z"), nil},
	"RealDiv":           {one("z"), nil},
	"Div":               {one("z"), nil},
	"DivNoNan":          {one("z"), nil},
	"FloorDiv":          {one("z"), nil},
	"FloorMod":          {one("z"), nil},
	"Maximum":           {one("z"), nil},
	"Minimum":           {one("z"), nil},
	"Pow":               {one("z"), nil},
	"SquaredDifference": {one("z"), nil},
	"Less":              {one("z"), nil},
	"LessEqual":         {one("z"), nil},
	"Greater":           {one("z"), nil},
	"GreaterEqual":      {one("z"), nil},
	"Equal":             {one("z"), attrs{"incompatible_shape_error": BoolAttr(true)}},
	"NotEqual":          {one("z"), attrs{"incompatible_shape_error": BoolAttr(true)}},
	"LogicalAnd":        {one("z"), nil},
	"LogicalOr":         {one("z"), nil},
	"AddN":              {one("sum"), nil},

	// Element-wise unary ops.
	"Rsqrt":        {one("y"), nil},
	"Sqrt":         {one("y"), nil},
	"Square":       {one("y"), nil},
	"Neg":          {one("y"), nil},
	"Exp":          {one("y"), nil},
	"Log":          {one("y"), nil},
	"Abs":          {one("y"), nil},
	"Floor":        {one("y"), nil},
	"Ceil":         {one("y"), nil},
	"Round":        {one("y"), nil},
	"Sign":         {one("y"), nil},
	"Reciprocal":   {one("y"), nil},
	"Erf":          {one("y"), nil},
	"Cos":          {one("y"), nil},
	"Sin":          {one("y"), nil},
	"LogicalNot":   {one("y"), nil},
	"ZerosLike":    {one("y"), nil},
	"OnesLike":     {one("y"), nil},
	"ClipByValue":  {one("output"), nil},
	"Cast":         {one("y"), attrs{"Truncate": BoolAttr(false)}},
	"StopGradient": {one("output"), nil},
	"Snapshot":     {one("output"), nil},
	"L2Loss":       {one("output"), nil},

	// Shapes and data movement.
	"Reshape":      {one("output"), attrs{"Tshape": int32Type()}},
	"Squeeze":      {one("output"), attrs{"squeeze_dims": emptyList()}},
	"ExpandDims":   {one("output"), attrs{"Tdim": int32Type()}},
	"Pad":          {one("output"), attrs{"Tpaddings": int32Type()}},
	"PadV2":        {one("output"), attrs{"Tpaddings": int32Type()}},
	"MirrorPad":    {one("output"), attrs{"Tpaddings": int32Type()}},
	"ConcatV2":     {one("output"), attrs{"Tidx": int32Type()}},
	"Transpose":    {one("y"), attrs{"Tperm": int32Type()}},
	"Shape":        {one("output"), attrs{"out_type": int32Type()}},
	"ShapeN":       {listN("output", "N"), attrs{"out_type": int32Type()}},
	"Size":         {one("output"), attrs{"out_type": int32Type()}},
	"Rank":         {one("output"), nil},
	"StridedSlice": {one("output"), attrs{"begin_mask": IntAttr(0), "end_mask": IntAttr(0), "ellipsis_mask": IntAttr(0), "new_axis_mask": IntAttr(0), "shrink_axis_mask": IntAttr(0)}},
	"Slice":        {one("output"), nil},
	"Pack":         {one("output"), attrs{"axis": IntAttr(0)}},
	"Unpack":       {listN("output", "num"), attrs{"axis": IntAttr(0)}},
	"Split":        {listN("output", "num_split"), nil},
	"SplitV":       {listN("output", "num_split"), nil},
	"Tile":         {one("output"), attrs{"Tmultiples": int32Type()}},
	"Fill":         {one("output"), attrs{"index_type": int32Type()}},
	"Range":        {one("output"), attrs{"Tidx": int32Type()}},
	"BroadcastTo":  {one("output"), attrs{"Tidx": int32Type()}},
	"GatherV2":     {one("output"), attrs{"batch_dims": IntAttr(0)}},
	"GatherNd":     {one("output"), nil},
	"Select":       {one("output"), nil},
	"SelectV2":     {one("output"), nil},
	"Where":        {one("index"), nil},
	"ReverseV2":    {one("output"), attrs{"Tidx": int32Type()}},
	"TopKV2":       {many("values", "indices"), attrs{"sorted": BoolAttr(true), "index_type": int32Type()}},
	"Identity":     {one("output"), nil},
	"IdentityN":    {listT("output", "T"), nil},

	// Images.
	"ResizeBilinear":        {one("resized_images"), resize},
	"ResizeNearestNeighbor": {one("resized_images"), resize},
	"CropAndResize":         {one("crops"), attrs{"method": StringAttr("bilinear"), "extrapolation_value": FloatAttr(0)}},
	"NonMaxSuppressionV5":   {many("selected_indices", "selected_scores", "valid_outputs"), attrs{"pad_to_max_output_size": BoolAttr(false)}},

	// Graph plumbing.
	"Const":                   {one("output"), nil},
	"Placeholder":             {one("output"), attrs{"shape": unknownShape()}},
	"PlaceholderWithDefault":  {one("output"), nil},
	"NoOp":                    {nil, nil},
	"StatefulPartitionedCall": {listT("output", "Tout"), callAttrs},
	"PartitionedCall":         {listT("output", "Tout"), callAttrs},

	// Variables.
	"VarHandleOp":        {one("resource"), attrs{"container": StringAttr(""), "shared_name": StringAttr(""), "allowed_devices": emptyList()}},
	"VariableV2":         {one("ref"), attrs{"container": StringAttr(""), "shared_name": StringAttr("")}},
	"Variable":           {one("ref"), attrs{"container": StringAttr(""), "shared_name": StringAttr("")}},
	"ReadVariableOp":     {one("value"), nil},
	"VarIsInitializedOp": {one("is_initialized"), nil},
	"AssignVariableOp":   {nil, attrs{"validate_shape": BoolAttr(false)}},
	"Assign":             {one("output_ref"), attrs{"validate_shape": BoolAttr(true), "use_locking": BoolAttr(true)}},
	"DisableCopyOnRead":  {nil, nil},

	// Checkpoint save/restore (followed to map variables to keys).
	"RestoreV2":            {listT("tensors", "dtypes"), nil},
	"SaveV2":               {nil, nil},
	"MergeV2Checkpoints":   {nil, attrs{"delete_old_dirs": BoolAttr(true), "allow_missing_files": BoolAttr(false)}},
	"ShardedFilename":      {one("filename"), nil},
	"StringJoin":           {one("output"), attrs{"separator": StringAttr("")}},
	"StaticRegexFullMatch": {one("output"), nil},

	// TF1 control flow (recognised so that errors are about cycles, not
	// unknown output args).
	"Switch":        {many("output_false", "output_true"), nil},
	"Merge":         {many("output", "value_index"), nil},
	"Enter":         {one("output"), attrs{"is_constant": BoolAttr(false), "parallel_iterations": IntAttr(10)}},
	"Exit":          {one("output"), nil},
	"NextIteration": {one("output"), nil},
	"LoopCond":      {one("output"), nil},
}

// KnownOp reports whether the built-in op table describes op.
func KnownOp(op string) bool { return opTable[op] != nil }

// opDefFromProto converts an OpDef from a graph's stripped_op_list.
func opDefFromProto(p *opdefpb.OpDef) *opDef {
	d := &opDef{defaults: attrs{}}
	for _, a := range p.GetOutputArg() {
		d.outputs = append(d.outputs, outArg{name: a.GetName(), numberAttr: a.GetNumberAttr(), typeListAttr: a.GetTypeListAttr()})
	}
	for _, a := range p.GetAttr() {
		if a.GetDefaultValue() != nil {
			d.defaults[a.GetName()] = a.GetDefaultValue()
		}
	}
	return d
}

// argLen returns how many tensors output argument a has for a node with
// attributes at.
func (a outArg) argLen(at map[string]*attrpb.AttrValue) (int, error) {
	switch {
	case a.numberAttr != "":
		v, ok := at[a.numberAttr].GetValue().(*attrpb.AttrValue_I)
		if !ok {
			return 0, fmt.Errorf("output %q: list length attribute %q is missing or not an int", a.name, a.numberAttr)
		}
		if v.I < 0 || v.I > maxListLen {
			return 0, fmt.Errorf("output %q: list length %s=%d out of range", a.name, a.numberAttr, v.I)
		}
		return int(v.I), nil
	case a.typeListAttr != "":
		v, ok := at[a.typeListAttr].GetValue().(*attrpb.AttrValue_List)
		if !ok {
			return 0, fmt.Errorf("output %q: type list attribute %q is missing or not a list", a.name, a.typeListAttr)
		}
		return len(v.List.GetType()), nil
	}
	return 1, nil
}

// maxListLen bounds list-valued output arguments (absurd values in a
// malformed graph are rejected before anything is allocated).
const maxListLen = 1 << 16

// numOutputs returns the total number of output tensors.
func (d *opDef) numOutputs(at map[string]*attrpb.AttrValue) (int, error) {
	n := 0
	for _, a := range d.outputs {
		k, err := a.argLen(at)
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// outputIndex maps (output arg name, index within the arg) to a flat
// output index.
func (d *opDef) outputIndex(at map[string]*attrpb.AttrValue, arg string, i int) (int, error) {
	base := 0
	var names []string
	for _, a := range d.outputs {
		k, err := a.argLen(at)
		if err != nil {
			return 0, err
		}
		if a.name == arg {
			if i < 0 || i >= k {
				return 0, fmt.Errorf("output %q has %d tensors, no index %d", arg, k, i)
			}
			return base + i, nil
		}
		base += k
		names = append(names, a.name)
	}
	return 0, fmt.Errorf("no output arg %q (the op's outputs are %v)", arg, names)
}
