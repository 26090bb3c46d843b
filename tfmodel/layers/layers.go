// Package layers maps the names users know — Keras layer names, node names,
// tensor names, positions in the list of spatial layers — onto a model
// graph's tensors, and finds the layers visualizations work on: the
// spatial (4-D NHWC) activations, the suggested CAM target, the class-score
// tensor, and a Keras-like summary table.
//
// A layer is a name scope: the node name without its last path component
// ("sequential/conv2d_2/Relu" belongs to layer "sequential/conv2d_2",
// "sequential_5/model2/out_relu/Relu6" to the nested layer
// "sequential_5/model2/out_relu"). Only nodes that depend on the model input
// form layers, so the variable reads and constants nested under a layer's
// ops ("sequential/conv2d/Conv2D/ReadVariableOp") do not. A layer's output
// is its last node in topological order.
package layers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Layer is a layer output found by a forward pass.
type Layer struct {
	// Name is the output tensor's name ("sequential/conv2d_2/Relu").
	Name string
	// Scope is the layer's name scope ("sequential/conv2d_2").
	Scope string
	// Op is the op type of the output node.
	Op string
	// Shape is the output shape in the sample pass (batch first).
	Shape []int
}

// String returns "name (Op) (1, 4, 4, 64)".
func (l Layer) String() string {
	return fmt.Sprintf("%s (%s) %s", l.Name, l.Op, tensor.ShapeString(l.Shape))
}

// ScopeOf returns the layer scope of a node name: the name without its last
// path component, or the name itself when it has none.
func ScopeOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		return name[:i]
	}
	return name
}

// structural ops produce no activations of their own.
var structural = map[string]bool{
	"Const": true, "Placeholder": true, "PlaceholderWithDefault": true, "ReadVariableOp": true,
	"VarHandleOp": true, "VariableV2": true, "NoOp": true, "Shape": true, "ShapeN": true,
	"Size": true, "Rank": true,
}

// dependents returns, for each node ID, whether the node depends on one of
// the sources (sources included).
func dependents(g *graph.Graph, sources ...*graph.Node) []bool {
	dep := make([]bool, len(g.Nodes))
	for _, s := range sources {
		if s != nil {
			dep[s.ID] = true
		}
	}
	for _, n := range g.Nodes {
		if dep[n.ID] {
			continue
		}
		for _, in := range n.Inputs {
			if dep[in.Node.ID] {
				dep[n.ID] = true
				break
			}
		}
	}
	return dep
}

// inputNodes returns the Placeholders of g, or the named input's node.
func inputNodes(g *graph.Graph, input string) ([]*graph.Node, error) {
	if input != "" {
		ep, err := g.Resolve(input)
		if err != nil {
			return nil, fmt.Errorf("model input %q: %w", input, err)
		}
		return []*graph.Node{ep.Node}, nil
	}
	var out []*graph.Node
	for _, n := range g.Nodes {
		if n.Op == "Placeholder" && n.Value == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// scopeOutputs returns, in topological order, each layer's output node:
// the last node of its scope that depends on the inputs and is not
// structural and, when keep is non-nil, for which keep returns true.
func scopeOutputs(g *graph.Graph, inputs []*graph.Node, keep func(n *graph.Node) bool) []*graph.Node {
	dep := dependents(g, inputs...)
	last := map[string]*graph.Node{}
	var order []string
	for _, n := range g.Nodes {
		if !dep[n.ID] || structural[n.Op] || n.Value != nil || n.NumOutputs == 0 {
			continue
		}
		if keep != nil && !keep(n) {
			continue
		}
		s := ScopeOf(n.Name)
		if _, ok := last[s]; !ok {
			order = append(order, s)
		}
		last[s] = n
	}
	out := make([]*graph.Node, 0, len(order))
	for _, s := range order {
		out = append(out, last[s])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// MaxSampleBatch bounds the batch of the sample Spatial runs: one image is
// enough and every layer's activations are held at once.
const MaxSampleBatch = 8

// Spatial runs one forward pass of sample (a batch of one image, fed to
// input) and returns the layers whose output is a 4-D float tensor with a
// spatial size larger than 1×1 (NHWC), one per layer scope (the last such
// node of the scope), in topological order. Input-independent nodes, the
// input itself, and integer plumbing are not layers.
func Spatial(ctx context.Context, eng engine.Engine, g *graph.Graph, input string, sample *tensor.Tensor) ([]Layer, error) {
	if eng == nil || g == nil {
		return nil, fmt.Errorf("layers: Spatial needs an engine and a graph")
	}
	if sample == nil || sample.Rank() == 0 || sample.Shape[0] < 1 || sample.Shape[0] > MaxSampleBatch {
		return nil, fmt.Errorf("layers: Spatial needs a sample batch of 1 to %d images fed to %q, got %v", MaxSampleBatch, input, sample)
	}
	ins, err := inputNodes(g, input)
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	// Candidates: every input-dependent node whose output could be 4-D.
	dep := dependents(g, ins...)
	var cands []*graph.Node
	for _, n := range g.Nodes {
		if !dep[n.ID] || structural[n.Op] || n.Value != nil || n.NumOutputs == 0 || n == ins[0] {
			continue
		}
		if len(n.OutShapes) > 0 && n.OutShapes[0] != nil && len(n.OutShapes[0]) != 4 {
			continue
		}
		cands = append(cands, n)
	}
	fetches := make([]string, len(cands))
	for i, n := range cands {
		fetches[i] = n.Name
	}
	vals, err := eng.Run(ctx, map[string]*tensor.Tensor{input: sample}, fetches)
	if err != nil {
		return nil, fmt.Errorf("layers: forward pass for the layer list: %w", err)
	}
	last := map[string]Layer{}
	lastID := map[string]int{}
	for i, n := range cands {
		v := vals[i]
		if v == nil || !v.DType.IsFloat() || v.Rank() != 4 || v.Shape[1]*v.Shape[2] <= 1 {
			continue
		}
		s := ScopeOf(n.Name)
		last[s] = Layer{Name: n.Name, Scope: s, Op: n.Op, Shape: append([]int(nil), v.Shape...)}
		lastID[s] = n.ID
	}
	out := make([]Layer, 0, len(last))
	for _, l := range last {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return lastID[out[i].Scope] < lastID[out[j].Scope] })
	return out, nil
}

// Resolve finds the tensor a user means by spec, in this order:
//
//   - a tensor name of the graph: "sequential_5/conv2d_23/Relu" or "node:1";
//   - a unique suffix of node names, aligned on path components:
//     "conv2d_23/Relu";
//   - a unique suffix of layer scopes: "conv2d_23" names the layer
//     ".../conv2d_23", whose output is its last input-dependent,
//     non-constant node in topological order (for a Keras Conv2D with an
//     activation, the activation node);
//   - an index into the spatial-layer list, "#3" or "-1" (zero-based,
//     negative counts from the end), using the statically inferred output
//     shapes of the graph (see ResolveIn to pass the list from Spatial).
//
// An unknown or ambiguous spec is an error listing close matches.
func Resolve(g *graph.Graph, spec string) (graph.Endpoint, error) {
	return ResolveIn(g, spec, nil)
}

// ResolveIn is Resolve with an explicit spatial-layer list (from Spatial)
// for index specs. With a nil list, index specs use the layers whose
// static output shape is 4-D with a spatial size larger than 1×1.
func ResolveIn(g *graph.Graph, spec string, spatial []Layer) (graph.Endpoint, error) {
	if g == nil {
		return graph.Endpoint{}, fmt.Errorf("layers: nil graph")
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return graph.Endpoint{}, fmt.Errorf("layers: empty layer name")
	}
	if idx, ok := parseIndex(spec); ok {
		if spatial == nil {
			spatial = staticSpatial(g)
		}
		if len(spatial) == 0 {
			return graph.Endpoint{}, fmt.Errorf("layers: layer index %q: the model has no spatial (4-D, larger than 1x1) layer with a known shape", spec)
		}
		i := idx
		if i < 0 {
			i += len(spatial)
		}
		if i < 0 || i >= len(spatial) {
			return graph.Endpoint{}, fmt.Errorf("layers: layer index %q out of range: the model has %d spatial layers (#0 to #%d, or -1 to -%d)", spec, len(spatial), len(spatial)-1, len(spatial))
		}
		ep, err := g.Resolve(spatial[i].Name)
		if err != nil {
			return graph.Endpoint{}, fmt.Errorf("layers: layer index %q: %w", spec, err)
		}
		return ep, nil
	}
	// An exact tensor name.
	if name, _, err := graph.ParseTensorName(spec); err == nil && g.Node(name) != nil {
		ep, err := g.Resolve(spec)
		if err != nil {
			return graph.Endpoint{}, fmt.Errorf("layers: %w", err)
		}
		return ep, nil
	}
	// A suffix of node names.
	var nodeHits []*graph.Node
	for _, n := range g.Nodes {
		if strings.HasSuffix(n.Name, "/"+spec) {
			nodeHits = append(nodeHits, n)
		}
	}
	if len(nodeHits) == 1 {
		return nodeHits[0].Output(0), nil
	}
	if len(nodeHits) > 1 {
		return graph.Endpoint{}, fmt.Errorf("layers: %q is ambiguous, it ends %d node names: %s", spec, len(nodeHits), joinNodes(nodeHits, 8))
	}
	// A suffix of layer scopes.
	outs := scopeOutputs(g, nil, nil)
	if ins, _ := inputNodes(g, ""); len(ins) > 0 {
		outs = scopeOutputs(g, ins, nil)
	}
	var scopeHits []*graph.Node
	for _, n := range outs {
		s := ScopeOf(n.Name)
		if s == spec || strings.HasSuffix(s, "/"+spec) {
			scopeHits = append(scopeHits, n)
		}
	}
	if len(scopeHits) == 1 {
		return scopeHits[0].Output(0), nil
	}
	if len(scopeHits) > 1 {
		return graph.Endpoint{}, fmt.Errorf("layers: %q is ambiguous, it names %d layers, with outputs %s", spec, len(scopeHits), joinNodes(scopeHits, 8))
	}
	if close := g.Suggest(spec, 5); len(close) > 0 {
		return graph.Endpoint{}, fmt.Errorf("layers: no layer or tensor %q in the graph; close matches: %s", spec, strings.Join(close, ", "))
	}
	return graph.Endpoint{}, fmt.Errorf("layers: no layer or tensor %q in the graph", spec)
}

func joinNodes(ns []*graph.Node, max int) string {
	var names []string
	for i, n := range ns {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(ns)-max))
			break
		}
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

// parseIndex recognises "#3", "3", "-1".
func parseIndex(spec string) (int, bool) {
	s := strings.TrimPrefix(spec, "#")
	i, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return i, true
}

// staticSpatial lists the layers whose statically inferred output shape is
// 4-D with a spatial size known to be larger than 1×1.
func staticSpatial(g *graph.Graph) []Layer {
	ins, _ := inputNodes(g, "")
	var out []Layer
	for _, n := range scopeOutputs(g, ins, func(n *graph.Node) bool {
		if len(n.OutShapes) == 0 || len(n.OutShapes[0]) != 4 {
			return false
		}
		s := n.OutShapes[0]
		return s[1] > 0 && s[2] > 0 && s[1]*s[2] > 1
	}) {
		out = append(out, Layer{Name: n.Name, Scope: ScopeOf(n.Name), Op: n.Op, Shape: n.OutShapes[0]})
	}
	return out
}

// identityOps pass their input through unchanged.
var identityOps = map[string]bool{"Identity": true, "IdentityN": true, "Snapshot": true, "StopGradient": true, "PreventGradient": true}

// ScoreTensor returns the tensor class scores should be read from for the
// model output named output. When output is, through a chain of identity
// ops (Identity, IdentityN, Snapshot), the output of a Softmax and
// preSoftmax is true, it returns the Softmax's input — the logits, which
// is what Grad-CAM and its relatives differentiate (the softmax couples the
// classes and saturates); otherwise it returns output unchanged.
func ScoreTensor(g *graph.Graph, output string, preSoftmax bool) (string, error) {
	if g == nil {
		return "", fmt.Errorf("layers: nil graph")
	}
	ep, err := g.Resolve(output)
	if err != nil {
		return "", fmt.Errorf("layers: model output %q: %w", output, err)
	}
	if !preSoftmax {
		return output, nil
	}
	for range len(g.Nodes) {
		n := ep.Node
		switch {
		case n.Op == "Softmax" && len(n.Inputs) == 1:
			return n.Inputs[0].String(), nil
		case n.Op == "IdentityN" && ep.Index < len(n.Inputs):
			ep = n.Inputs[ep.Index]
		case identityOps[n.Op] && len(n.Inputs) >= 1 && ep.Index == 0:
			ep = n.Inputs[0]
		default:
			return output, nil
		}
	}
	return output, nil
}
