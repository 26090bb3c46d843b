// Package native is tbviz's pure-Go graph engine: it executes a graph.Graph
// with the op kernels registered in package kernel, and computes gradients
// by reverse-mode differentiation through the kernels' backward functions.
//
// Importing this package links every kernel family (nn, mathops, array,
// image).
//
// The executor runs the nodes a request needs in topological order, one at
// a time (kernels parallelise internally), and reference-counts every
// tensor: an intermediate value nobody fetched is dropped as soon as its last
// consumer has run. For a gradient request the forward pass additionally
// keeps, for the nodes on a path from a Wrt tensor to a Target, exactly the
// inputs and outputs their backward functions read (kernel.Def.KeepInputs
// and KeepOutputs); the backward pass then walks those nodes in reverse
// order, summing gradients over consumers.
package native
