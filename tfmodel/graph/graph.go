// Package graph is tbviz's graph IR: a flat, topologically ordered list of
// nodes with TensorFlow op types and attributes, after function inlining,
// variable binding and pruning. Loaders (package savedmodel, package tfjs)
// build it from a GraphDef; engines (package native, the TensorFlow engine)
// execute it.
//
// Node names are the names users know: nodes inlined from a function body
// keep their body name (for Keras models that is the layer path, e.g.
// "sequential_5/conv2d_23/Relu") unless that name is taken, in which case
// they are prefixed with the call site's name.
package graph

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Endpoint names one output of a node.
type Endpoint struct {
	Node  *Node
	Index int
}

// String returns the TensorFlow tensor name, "node" for output 0 or
// "node:i" otherwise.
func (e Endpoint) String() string {
	if e.Index == 0 {
		return e.Node.Name
	}
	return e.Node.Name + ":" + strconv.Itoa(e.Index)
}

// Node is one operation of the graph.
type Node struct {
	// ID is the node's position in Graph.Nodes.
	ID int
	// Name is unique within the graph.
	Name string
	// Op is the TensorFlow op type, e.g. "Conv2D", "_FusedConv2D".
	Op string
	// Inputs are the data inputs, in the op's input order. Control inputs
	// are dropped: the IR is functional.
	Inputs []Endpoint
	// Attrs holds the node's attributes with defaults filled in.
	Attrs map[string]*attrpb.AttrValue
	// NumOutputs is the number of output tensors.
	NumOutputs int
	// Value is the constant output of Const nodes and of bound variable
	// reads (Op "ReadVariableOp" or "VarHandleOp" resolved to a value).
	Value *tensor.Tensor
	// VarKey is the checkpoint key of the variable this node reads, or "".
	VarKey string
	// OutShapes are the statically known output shapes (-1 for unknown
	// dimensions), nil where unknown. Filled by shape inference.
	OutShapes [][]int
}

// Output returns the endpoint for output i of n.
func (n *Node) Output(i int) Endpoint { return Endpoint{Node: n, Index: i} }

// IsConst reports whether the node's (only) output is a known value.
func (n *Node) IsConst() bool { return n.Value != nil }

// String returns "name (Op)".
func (n *Node) String() string { return n.Name + " (" + n.Op + ")" }

// Graph is a pruned, inlined, topologically sorted graph.
type Graph struct {
	// Nodes are in topological order: every input of a node comes earlier.
	Nodes []*Node
	index map[string]*Node
}

// New returns a graph over nodes, which must be in topological order with
// unique names. IDs are assigned.
func New(nodes []*Node) (*Graph, error) {
	g := &Graph{Nodes: nodes, index: make(map[string]*Node, len(nodes))}
	for i, n := range nodes {
		if _, dup := g.index[n.Name]; dup {
			return nil, fmt.Errorf("graph: duplicate node name %q", n.Name)
		}
		n.ID = i
		g.index[n.Name] = n
	}
	for _, n := range nodes {
		for j, in := range n.Inputs {
			if in.Node == nil {
				return nil, fmt.Errorf("graph: node %s: input %d is nil", n, j)
			}
			if g.index[in.Node.Name] != in.Node || in.Node.ID >= n.ID {
				return nil, fmt.Errorf("graph: node %s: input %d (%s) is not an earlier node of this graph", n, j, in)
			}
			if in.Index < 0 || in.Index >= in.Node.NumOutputs {
				return nil, fmt.Errorf("graph: node %s: input %d refers to output %d of %s, which has %d outputs", n, j, in.Index, in.Node, in.Node.NumOutputs)
			}
		}
	}
	return g, nil
}

// Node returns the node with the given name, or nil.
func (g *Graph) Node(name string) *Node { return g.index[name] }

// ParseTensorName splits "node:i" into ("node", i); a name without a colon
// is output 0. A leading "^" (control input) is rejected.
func ParseTensorName(name string) (string, int, error) {
	if strings.HasPrefix(name, "^") {
		return "", 0, fmt.Errorf("tensor name %q is a control input", name)
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		idx, err := strconv.Atoi(name[i+1:])
		if err != nil || idx < 0 {
			return "", 0, fmt.Errorf("tensor name %q: bad output index", name)
		}
		return name[:i], idx, nil
	}
	return name, 0, nil
}

// Resolve finds the endpoint for a tensor name ("node" or "node:i"). An
// unknown name is an error listing up to five close matches.
func (g *Graph) Resolve(name string) (Endpoint, error) {
	nodeName, idx, err := ParseTensorName(name)
	if err != nil {
		return Endpoint{}, err
	}
	n := g.index[nodeName]
	if n == nil {
		if close := g.Suggest(nodeName, 5); len(close) > 0 {
			return Endpoint{}, fmt.Errorf("no node %q in the graph; close matches: %s", nodeName, strings.Join(close, ", "))
		}
		return Endpoint{}, fmt.Errorf("no node %q in the graph", nodeName)
	}
	if idx >= n.NumOutputs {
		return Endpoint{}, fmt.Errorf("node %s has %d outputs, no output %d", n, n.NumOutputs, idx)
	}
	return n.Output(idx), nil
}

// Suggest returns up to max node names close to name: names containing it
// as a path suffix or substring first, then by edit distance.
func (g *Graph) Suggest(name string, max int) []string {
	type cand struct {
		name  string
		score int
	}
	var cs []cand
	lname := strings.ToLower(name)
	for _, n := range g.Nodes {
		ln := strings.ToLower(n.Name)
		var s int
		switch {
		case strings.HasSuffix(ln, "/"+lname):
			s = 0
		case strings.Contains(ln, lname):
			s = 1
		default:
			d := editDistance(lname, ln)
			if d > len(lname)/2+2 {
				// Compare with the last path components too.
				parts := strings.Split(ln, "/")
				best := d
				for k := range parts {
					if dd := editDistance(lname, strings.Join(parts[k:], "/")); dd < best {
						best = dd
					}
				}
				if best > len(lname)/2+1 {
					continue
				}
				d = best
			}
			s = 2 + d
		}
		cs = append(cs, cand{n.Name, s})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].score < cs[j].score })
	var out []string
	for _, c := range cs {
		if len(out) == max {
			break
		}
		out = append(out, c.name)
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			c = min(c, prev[j]+1, cur[j-1]+1)
			cur[j] = c
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Consumers returns, for every node, the nodes that read one of its outputs
// (each consumer listed once per node, in graph order).
func (g *Graph) Consumers() [][]*Node {
	out := make([][]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		seen := map[int]bool{}
		for _, in := range n.Inputs {
			if !seen[in.Node.ID] {
				seen[in.Node.ID] = true
				out[in.Node.ID] = append(out[in.Node.ID], n)
			}
		}
	}
	return out
}

// Prune returns the subgraph of the nodes needed to compute outputs, in the
// same order; nodes are shared with g (not copied). Nodes listed in stop are
// treated as sources (their inputs are not followed), which lets callers
// feed intermediate tensors.
func (g *Graph) Prune(outputs []Endpoint, stop map[*Node]bool) (*Graph, error) {
	need := make([]bool, len(g.Nodes))
	stack := []*Node{}
	for _, e := range outputs {
		stack = append(stack, e.Node)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if need[n.ID] {
			continue
		}
		need[n.ID] = true
		if stop[n] {
			continue
		}
		for _, in := range n.Inputs {
			if !need[in.Node.ID] {
				stack = append(stack, in.Node)
			}
		}
	}
	var nodes []*Node
	for _, n := range g.Nodes {
		if need[n.ID] {
			nodes = append(nodes, n)
		}
	}
	// Copy the nodes so that IDs of the pruned graph do not clobber g's.
	m := make(map[*Node]*Node, len(nodes))
	cp := make([]*Node, len(nodes))
	for i, n := range nodes {
		c := *n
		if stop[n] {
			c.Inputs = nil
		} else {
			c.Inputs = make([]Endpoint, len(n.Inputs))
			for j, in := range n.Inputs {
				c.Inputs[j] = Endpoint{Node: m[in.Node], Index: in.Index}
			}
		}
		m[n] = &c
		cp[i] = &c
	}
	return New(cp)
}
