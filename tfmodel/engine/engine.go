// Package engine defines the contract between tbviz's visualization methods
// and the runtimes that execute a model graph: the pure-Go native engine
// (package native, the default) and the TensorFlow C API engine (build tag
// "tensorflow").
//
// Tensors are named as in TensorFlow: "node" for a node's first output,
// "node:i" for output i, where node names are those of the inlined graph
// (package graph), e.g. "sequential/conv2d_2/Relu".
package engine

import (
	"context"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// ReluMode selects how the backward pass treats rectifiers (Relu, Relu6,
// LeakyRelu and the activations fused into _FusedConv2D/_FusedMatMul).
type ReluMode uint8

const (
	// ReluNormal is the true gradient: dy where the forward input was in
	// the linear region, 0 elsewhere.
	ReluNormal ReluMode = iota
	// ReluGuided is guided backpropagation (Springenberg et al. 2015):
	// the true gradient, further zeroed where dy < 0.
	ReluGuided
	// ReluDeconv is the deconvnet rule (Zeiler & Fergus 2014): max(dy, 0),
	// ignoring the forward input.
	ReluDeconv
)

// String returns "normal", "guided" or "deconv".
func (m ReluMode) String() string {
	switch m {
	case ReluGuided:
		return "guided"
	case ReluDeconv:
		return "deconv"
	}
	return "normal"
}

// GradRequest asks for one forward pass and one backward pass.
//
// The objective differentiated is L = Σ_t Σ_i Seed_t[i] · t[i] over the
// target tensors t: seeds are the upstream gradients dL/dt. A class logit
// for image b is a one-hot seed; a channel mean is a seed of 1/(H·W) on that
// channel; a region sum is a mask.
type GradRequest struct {
	// Feeds maps input tensor names to values. Feeding an intermediate
	// tensor cuts the graph there.
	Feeds map[string]*tensor.Tensor
	// Fetches are tensors whose forward values are returned in
	// GradResult.Values.
	Fetches []string
	// Targets are the tensors the objective is built from. Their forward
	// values are always returned in GradResult.Values.
	Targets []string
	// Seed returns the upstream gradient for each target, given the forward
	// values of Targets and Fetches (so the seed can depend on the
	// prediction, e.g. the top-1 class). Each seed has its target's shape
	// and dtype. A target missing from the returned map contributes zero.
	Seed func(values map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error)
	// Wrt are the tensors whose gradients dL/dx are returned in
	// GradResult.Grads; a tensor the objective does not depend on gets a
	// zero gradient.
	Wrt []string
	// Relu is the rectifier rule of the backward pass.
	Relu ReluMode
}

// GradResult holds what a GradRequest returns.
type GradResult struct {
	Values map[string]*tensor.Tensor
	Grads  map[string]*tensor.Tensor
}

// Engine executes one model graph. Implementations must be safe for
// concurrent use by multiple goroutines; the tensors they return are owned
// by the caller; the tensors passed in are never modified.
type Engine interface {
	// Run computes the fetched tensors from the feeds.
	Run(ctx context.Context, feeds map[string]*tensor.Tensor, fetches []string) ([]*tensor.Tensor, error)
	// Gradients runs a forward and a backward pass.
	Gradients(ctx context.Context, req GradRequest) (*GradResult, error)
	// Name identifies the engine ("native", "tensorflow").
	Name() string
	// Close releases the engine's resources.
	Close() error
}
