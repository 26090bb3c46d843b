// Package array registers the native engine's shape-plumbing kernels:
// constants, placeholders and variable reads (Const, Placeholder,
// PlaceholderWithDefault, VarHandleOp, VariableV2, ReadVariableOp),
// identities (Identity, IdentityN, StopGradient, NoOp), reshaping (Reshape,
// Squeeze, ExpandDims, Shape, Size, Rank), padding (Pad, PadV2, MirrorPad),
// joining and splitting (ConcatV2, Concat, Pack, Unpack, Split, SplitV),
// reordering (Transpose, Tile), slicing (Slice, StridedSlice, GatherV2) and
// creation (Fill, ZerosLike, OnesLike, Range).
//
// Shape arguments (shapes, axes, paddings, sizes) are int32 or int64 and
// get nil gradients; data arguments may have any dtype, and their
// gradients (float32/float64) are the adjoint index maps: slicing scatters
// into zeros, padding slices, concatenation splits.
//
// Importing the package registers the kernels (see package kernel).
package array
