package layers

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Row is one line of a Keras-like layer table.
type Row struct {
	// Name is the layer scope ("sequential/conv2d").
	Name string
	// Op is the layer's main op (Conv2D, MatMul, FusedBatchNormV3, …), or
	// the op of its output node when it has none of those.
	Op string
	// Output is the layer output's tensor name.
	Output string
	// Shape is the output shape: from the sample pass when Table ran one
	// (batch first, as run), else the static shape (-1 unknown, nil for
	// unknown rank).
	Shape []int
	// Params counts the elements of the parameters the layer's ops read:
	// variables (nodes with a checkpoint key) or, in graphs without
	// variables (frozen TF.js graph-models), float constants of more than
	// one element. Each parameter counts once, for the first layer that
	// reads it.
	Params int
}

// mainOps are, in priority order, the op types that characterise a layer.
var mainOps = []string{
	"_FusedConv2D", "Conv2D", "_FusedDepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative",
	"Conv2DBackpropInput", "_FusedMatMul", "MatMul", "BatchMatMulV2", "FusedBatchNormV3", "FusedBatchNormV2",
	"FusedBatchNorm", "MaxPool", "AvgPool", "Mean", "ResizeBilinear", "ResizeNearestNeighbor", "Reshape",
	"ConcatV2", "AddV2", "Add", "Softmax",
}

// Table returns one row per layer of g, in topological order. When eng is
// non-nil it runs sample (fed to input) once to measure every layer's
// output shape; with a nil engine the shapes are the graph's statically
// inferred ones. input may be "" for "every Placeholder" when eng is nil.
func Table(ctx context.Context, eng engine.Engine, g *graph.Graph, input string, sample *tensor.Tensor) ([]Row, error) {
	if g == nil {
		return nil, fmt.Errorf("layers: nil graph")
	}
	ins, err := inputNodes(g, input)
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("layers: the graph has no Placeholder input")
	}
	dep := dependents(g, ins...)
	outs := scopeOutputs(g, ins, nil)
	var shapes map[string][]int
	if eng != nil {
		if sample == nil || sample.Rank() == 0 || sample.Shape[0] < 1 || sample.Shape[0] > MaxSampleBatch {
			return nil, fmt.Errorf("layers: Table needs a sample batch of 1 to %d images fed to %q", MaxSampleBatch, input)
		}
		fetches := make([]string, len(outs))
		for i, n := range outs {
			fetches[i] = n.Name
		}
		vals, err := eng.Run(ctx, map[string]*tensor.Tensor{input: sample}, fetches)
		if err != nil {
			return nil, fmt.Errorf("layers: forward pass for the layer table: %w", err)
		}
		shapes = make(map[string][]int, len(outs))
		for i, n := range outs {
			if vals[i] != nil {
				shapes[n.Name] = vals[i].Shape
			}
		}
	}
	hasVars := false
	for _, n := range g.Nodes {
		if n.VarKey != "" {
			hasVars = true
			break
		}
	}
	isParam := func(n *graph.Node) bool {
		if n.Value == nil {
			return false
		}
		if hasVars {
			return n.VarKey != ""
		}
		return n.Op == "Const" && n.Value.DType.IsFloat() && n.Value.Len() > 1
	}
	// Parameters reachable backwards from node n's input-independent inputs.
	counted := make([]bool, len(g.Nodes))
	visited := make([]bool, len(g.Nodes))
	var params func(n *graph.Node) int
	params = func(n *graph.Node) int {
		total := 0
		for _, in := range n.Inputs {
			p := in.Node
			if dep[p.ID] || visited[p.ID] {
				continue
			}
			visited[p.ID] = true
			if isParam(p) {
				if !counted[p.ID] {
					counted[p.ID] = true
					total += p.Value.Len()
				}
				continue
			}
			total += params(p)
		}
		return total
	}
	rows := make([]Row, 0, len(outs))
	index := map[string]int{}
	for _, n := range outs {
		index[ScopeOf(n.Name)] = len(rows)
		r := Row{Name: ScopeOf(n.Name), Op: n.Op, Output: n.Name}
		if shapes != nil {
			r.Shape = shapes[n.Name]
		} else if len(n.OutShapes) > 0 {
			r.Shape = n.OutShapes[0]
		}
		rows = append(rows, r)
	}
	mainRank := map[string]int{}
	for i, op := range mainOps {
		mainRank[op] = i + 1
	}
	best := make([]int, len(rows))
	for _, n := range g.Nodes {
		if !dep[n.ID] || structural[n.Op] || n.Value != nil {
			continue
		}
		i, ok := index[ScopeOf(n.Name)]
		if !ok {
			continue
		}
		rows[i].Params += params(n)
		if r := mainRank[n.Op]; r > 0 && (best[i] == 0 || r < best[i]) {
			best[i] = r
			rows[i].Op = n.Op
		}
	}
	return rows, nil
}

// WriteTable prints rows as a Keras-like summary: layer, op, output shape
// and parameter count, then the total.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Layer\tOp\tOutput shape\tParams")
	total := 0
	for _, r := range rows {
		shape := "?"
		if r.Shape != nil {
			shape = tensor.ShapeString(r.Shape)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Op, shape, groupDigits(r.Params))
		total += r.Params
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Total params: %s\n", groupDigits(total))
	return err
}

// groupDigits writes n with thousands separators, as Keras does.
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
