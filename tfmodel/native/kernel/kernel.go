// Package kernel is the registry of the native engine's op kernels: for each
// TensorFlow op type, a forward function and, for differentiable ops, a
// backward (vector-Jacobian product) function.
//
// Kernels live in the sibling packages by family: nn (convolution, pooling,
// normalisation, activations and their fused forms), mathops (element-wise
// arithmetic, reductions, matrix multiply), array (shape plumbing) and image
// (resizing). Each registers itself in an init function; importing package
// native links them all.
//
// Contract: kernels never modify their inputs and may return an input
// tensor unchanged as an output (Identity, Reshape of the same data); the
// engine treats returned tensors as immutable. Numeric kernels handle
// float32 and float64 (the gradient checks run in float64).
package kernel

import (
	"fmt"
	"sort"
	"sync"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Context is what a kernel sees of the node being executed.
type Context struct {
	// Node is the graph node, with its attributes (defaults filled).
	Node *graph.Node
	// Relu is the rectifier rule of the current backward pass.
	Relu engine.ReluMode
	// Buffers, when non-nil, lends recycled float32 buffers for outputs
	// (see Output). The engine sets it unless a test hook observes values.
	Buffers BufferPool
}

// BufferPool lends float32 buffers for kernel outputs.
type BufferPool interface {
	// Float32 returns a buffer of length n whose contents are arbitrary
	// (not zeroed). The engine takes it back when the value dies.
	Float32(n int) []float32
}

// Output returns a tensor of the given type and shape for an output the
// kernel overwrites entirely: float32 data comes from c.Buffers when set,
// so it may hold garbage; anything else is a fresh zeroed allocation.
func (c *Context) Output(dt tensor.DType, shape ...int) *tensor.Tensor {
	if c == nil || c.Buffers == nil || dt != tensor.Float32 {
		return tensor.New(dt, shape...)
	}
	return tensor.FromFloat32(c.Buffers.Float32(tensor.NumElements(shape)), shape...)
}

// ForwardFunc computes a node's outputs from its inputs.
type ForwardFunc func(c *Context, in []*tensor.Tensor) ([]*tensor.Tensor, error)

// BackwardFunc computes the gradients of the objective with respect to each
// input, given the forward inputs and outputs (entries not listed in the
// Def's Keep fields may be nil) and the upstream gradient of each output
// (nil where the objective does not depend on that output). It returns one
// entry per input; nil means zero or not differentiable (integer inputs such
// as shapes and axes).
type BackwardFunc func(c *Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error)

// Def describes the kernel of one op type.
type Def struct {
	// Forward is required.
	Forward ForwardFunc
	// Backward is nil for ops that are not differentiable; the engine
	// reports an error if a gradient has to flow through such an op.
	Backward BackwardFunc
	// KeepInputs lists the inputs Backward reads (nil: all inputs).
	// Use an empty non-nil slice for none.
	KeepInputs []int
	// KeepOutputs lists the outputs Backward reads (nil: none).
	KeepOutputs []int
	// Check validates the node's attributes and static input shapes at
	// load time (optional), so bad graphs fail before any run.
	Check func(n *graph.Node) error
}

var (
	mu   sync.RWMutex
	defs = map[string]Def{}
)

// Register adds the kernel for op. Registering an op twice panics (a
// programming error, caught by any test that links the kernels).
func Register(op string, d Def) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := defs[op]; dup {
		panic(fmt.Sprintf("kernel: op %s registered twice", op))
	}
	if d.Forward == nil {
		panic(fmt.Sprintf("kernel: op %s has no Forward", op))
	}
	defs[op] = d
}

// Lookup returns the kernel for op.
func Lookup(op string) (Def, bool) {
	mu.RLock()
	defer mu.RUnlock()
	d, ok := defs[op]
	return d, ok
}

// Ops returns the registered op types, sorted.
func Ops() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(defs))
	for op := range defs {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// Errorf returns an error prefixed with the node's name and op, the form
// every kernel error takes.
func (c *Context) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", c.Node, fmt.Sprintf(format, args...))
}
