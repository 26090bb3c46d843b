package tfengine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"
	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	nodepb "github.com/wamuir/graft/tensorflow/core/framework/node_def_go_proto"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// LowerOptions configures Lower. The zero value lowers the whole graph,
// cuts nothing and leaves placement to TensorFlow.
type LowerOptions struct {
	// Outputs, when not empty, prunes the graph to what these tensors
	// (tbviz names, "node" or "node:i") need.
	Outputs []string
	// Feeds are tensors whose values will be given at run time, with
	// their dtypes. Each becomes a Placeholder and its consumers read the
	// Placeholder, so the graph is cut there as the native engine cuts
	// it: nothing upstream is computed, and no gradient flows upstream.
	Feeds map[string]tensor.DType
	// Device, when set, is written on every node, e.g. "/device:GPU:0"
	// (see NormalizeDevice). Ops without a kernel there fall back to the
	// CPU when the session allows soft placement, as Engine's sessions do.
	Device string
}

// Program is a graph lowered for TensorFlow: a GraphDef its importer
// accepts and the map from tbviz tensor names to the GraphDef's tensors.
type Program struct {
	// GraphDef holds only standard TensorFlow ops.
	GraphDef *graphpb.GraphDef
	g        *graph.Graph
	// alias maps a tbviz tensor ("node" or "node:i") to the GraphDef
	// tensor holding its value, where the two differ.
	alias map[string]string
}

// feedPrefix names the Placeholders that replace fed tensors.
const feedPrefix = "tbviz_feed/"

// Lower turns g into a Program. Errors name the node, op or tensor at
// fault.
func Lower(g *graph.Graph, o LowerOptions) (*Program, error) {
	if g == nil {
		return nil, fmt.Errorf("tfengine: lower: nil graph")
	}
	p := &Program{g: g, alias: map[string]string{}}
	work, err := cut(g, o, p.alias)
	if err != nil {
		return nil, fmt.Errorf("tfengine: lower: %w", err)
	}
	gd, err := graph.ToGraphDef(work)
	if err != nil {
		return nil, fmt.Errorf("tfengine: lower: %w", err)
	}
	if gd.Node, err = unfuse(gd.GetNode()); err != nil {
		return nil, fmt.Errorf("tfengine: lower: %w", err)
	}
	if gd.Node, err = splitIdentityN(gd.GetNode(), p.alias); err != nil {
		return nil, fmt.Errorf("tfengine: lower: %w", err)
	}
	if o.Device != "" {
		for _, n := range gd.Node {
			n.Device = o.Device
		}
	}
	p.GraphDef = gd
	return p, nil
}

// Tensor returns the GraphDef tensor ("node" or "node:i") that holds the
// value of the tbviz tensor name. Unknown names are errors with close
// matches, as graph.Graph.Resolve gives them.
func (p *Program) Tensor(name string) (string, error) {
	ep, err := p.g.Resolve(name)
	if err != nil {
		return "", err
	}
	if a, ok := p.alias[ep.String()]; ok {
		return a, nil
	}
	return ep.String(), nil
}

// SplitTensor parses a GraphDef tensor name into node name and output
// index.
func SplitTensor(name string) (string, int) {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		if k, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i], k
		}
	}
	return name, 0
}

// cut copies g with every fed endpoint replaced by a Placeholder and prunes
// the copy to o.Outputs (all sinks when empty). The Placeholders' names
// are recorded in alias.
func cut(g *graph.Graph, o LowerOptions, alias map[string]string) (*graph.Graph, error) {
	if len(o.Feeds) == 0 && len(o.Outputs) == 0 {
		return g, nil
	}
	names := make([]string, 0, len(o.Feeds))
	for name := range o.Feeds {
		names = append(names, name)
	}
	sort.Strings(names)
	repl := map[graph.Endpoint]*graph.Node{}
	var nodes []*graph.Node
	for k, name := range names {
		ep, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("feed %q: %w", name, err)
		}
		if _, dup := repl[ep]; dup {
			return nil, fmt.Errorf("feed %q: names the same tensor as another feed", name)
		}
		dt := o.Feeds[name]
		if tensor.ProtoDType(dt) == 0 {
			return nil, fmt.Errorf("feed %q: dtype %v has no TensorFlow equivalent", name, dt)
		}
		ph := &graph.Node{
			Name:       feedPrefix + strconv.Itoa(k),
			Op:         "Placeholder",
			NumOutputs: 1,
			Attrs:      map[string]*attrpb.AttrValue{"dtype": graph.TypeAttr(dt)},
		}
		for g.Node(ph.Name) != nil {
			ph.Name += "_"
		}
		repl[ep] = ph
		alias[ep.String()] = ph.Name
		nodes = append(nodes, ph)
	}
	copies := make(map[*graph.Node]*graph.Node, len(g.Nodes))
	for _, n := range g.Nodes {
		c := *n
		c.Inputs = make([]graph.Endpoint, len(n.Inputs))
		for j, in := range n.Inputs {
			if ph := repl[in]; ph != nil {
				c.Inputs[j] = ph.Output(0)
			} else {
				c.Inputs[j] = graph.Endpoint{Node: copies[in.Node], Index: in.Index}
			}
		}
		copies[n] = &c
		nodes = append(nodes, &c)
	}
	work, err := graph.New(nodes)
	if err != nil {
		return nil, err
	}
	var outs []graph.Endpoint
	if len(o.Outputs) == 0 {
		used := map[graph.Endpoint]bool{}
		for _, n := range work.Nodes {
			for _, in := range n.Inputs {
				used[in] = true
			}
		}
		for _, n := range work.Nodes {
			for i := range n.NumOutputs {
				if !used[n.Output(i)] && !strings.HasPrefix(n.Name, feedPrefix) {
					outs = append(outs, n.Output(i))
				}
			}
		}
	}
	for _, name := range o.Outputs {
		ep, err := g.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		if ph := repl[ep]; ph != nil {
			outs = append(outs, ph.Output(0))
		} else {
			outs = append(outs, graph.Endpoint{Node: copies[ep.Node], Index: ep.Index})
		}
	}
	return work.Prune(outs, nil)
}

// fusedPrefix names the nodes a fused op is split into.
const fusedPrefix = "/tbviz_unfused/"

// unfuse splits the fused ops into standard ops. The last op of each
// chain keeps the fused node's name, so its tensor names stay valid.
func unfuse(nodes []*nodepb.NodeDef) ([]*nodepb.NodeDef, error) {
	out := make([]*nodepb.NodeDef, 0, len(nodes))
	for _, n := range nodes {
		var base string
		switch n.GetOp() {
		case "_FusedConv2D":
			base = "Conv2D"
		case "_FusedDepthwiseConv2dNative", "FusedDepthwiseConv2dNative":
			base = "DepthwiseConv2dNative"
		case "_FusedMatMul":
			base = "MatMul"
		default:
			out = append(out, n)
			continue
		}
		chain, err := unfuseOne(n, base)
		if err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.GetName(), n.GetOp(), err)
		}
		out = append(out, chain...)
	}
	return out, nil
}

// baseAttrs lists the attributes each base op takes from the fused node.
var baseAttrs = map[string][]string{
	"Conv2D":                {"T", "strides", "padding", "explicit_paddings", "data_format", "dilations", "use_cudnn_on_gpu"},
	"DepthwiseConv2dNative": {"T", "strides", "padding", "explicit_paddings", "data_format", "dilations"},
	"MatMul":                {"T", "transpose_a", "transpose_b"},
}

// activations maps the fused activation names (matched without regard to
// case: TF.js lower-cases them) to TensorFlow ops.
var activations = map[string]string{
	"relu": "Relu", "relu6": "Relu6", "elu": "Elu", "selu": "Selu", "leakyrelu": "LeakyRelu",
	"sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
}

func unfuseOne(n *nodepb.NodeDef, base string) ([]*nodepb.NodeDef, error) {
	at := n.GetAttr()
	tAttr := at["T"]
	if tAttr == nil {
		return nil, fmt.Errorf("missing attribute \"T\"")
	}
	var data, ctrl []string
	for _, in := range n.GetInput() {
		if strings.HasPrefix(in, "^") {
			ctrl = append(ctrl, in)
		} else {
			data = append(data, in)
		}
	}
	if len(data) < 2 {
		return nil, fmt.Errorf("%d data inputs, want at least 2 (input, filter or matrix)", len(data))
	}
	var ops []string
	if l := at["fused_ops"].GetList(); l != nil {
		for _, s := range l.GetS() {
			ops = append(ops, string(s))
		}
	}
	if h := at["num_host_args"]; h != nil && h.GetI() != 0 {
		return nil, fmt.Errorf("num_host_args %d is not supported", h.GetI())
	}
	args := data[2:]
	if a := at["num_args"]; a != nil && int(a.GetI()) != len(args) {
		return nil, fmt.Errorf("num_args is %d but the node has %d extra inputs", a.GetI(), len(args))
	}
	name := n.GetName()
	var chain []*nodepb.NodeDef
	prev := ""
	add := func(op string, inputs []string, attrs map[string]*attrpb.AttrValue) {
		nd := &nodepb.NodeDef{Name: name + fusedPrefix + strconv.Itoa(len(chain)) + "_" + op, Op: op, Input: inputs, Attr: attrs}
		chain = append(chain, nd)
		prev = nd.Name
	}
	baseAt := map[string]*attrpb.AttrValue{}
	for _, k := range baseAttrs[base] {
		if v := at[k]; v != nil {
			baseAt[k] = v
		}
	}
	add(base, append([]string{data[0], data[1]}, ctrl...), baseAt)
	format := at["data_format"]
	if base == "MatMul" || format == nil {
		format = graph.StringAttr("NHWC")
	}
	rest := ops
	take := func(k int) ([]string, error) {
		if len(args) < k {
			return nil, fmt.Errorf("fused_ops %q need more than the %d extra inputs given", ops, len(data)-2)
		}
		a := args[:k]
		args = args[k:]
		return a, nil
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("empty fused_ops")
	}
	switch strings.ToLower(rest[0]) {
	case "biasadd":
		a, err := take(1)
		if err != nil {
			return nil, err
		}
		add("BiasAdd", []string{prev, a[0]}, map[string]*attrpb.AttrValue{"T": tAttr, "data_format": format})
		rest = rest[1:]
		if len(rest) > 0 && (strings.EqualFold(rest[0], "add") || strings.EqualFold(rest[0], "addv2")) {
			a, err := take(1)
			if err != nil {
				return nil, err
			}
			add("AddV2", []string{prev, a[0]}, map[string]*attrpb.AttrValue{"T": tAttr})
			rest = rest[1:]
		}
	case "fusedbatchnorm", "fusedbatchnormv2", "fusedbatchnormv3":
		a, err := take(4)
		if err != nil {
			return nil, err
		}
		eps := at["epsilon"]
		if eps == nil {
			eps = graph.FloatAttr(1e-4)
		}
		add("FusedBatchNormV3", append([]string{prev}, a...), map[string]*attrpb.AttrValue{
			"T": tAttr, "U": tAttr, "epsilon": eps, "is_training": graph.BoolAttr(false), "data_format": format,
		})
		rest = rest[1:]
	default:
		return nil, fmt.Errorf("unsupported fused_ops %q (supported: BiasAdd or FusedBatchNorm, then optionally Add and one activation)", ops)
	}
	if len(rest) > 1 {
		return nil, fmt.Errorf("unsupported fused_ops %q: more than one activation", ops)
	}
	if len(rest) == 1 {
		op, ok := activations[strings.ToLower(rest[0])]
		if !ok {
			return nil, fmt.Errorf("unsupported fused activation %q in fused_ops %q (supported: Relu, Relu6, Elu, Selu, LeakyRelu, Sigmoid, Tanh, Softplus)", rest[0], ops)
		}
		attrs := map[string]*attrpb.AttrValue{"T": tAttr}
		if op == "LeakyRelu" {
			alpha := at["leakyrelu_alpha"]
			if alpha == nil {
				alpha = graph.FloatAttr(0.2)
			}
			attrs["alpha"] = alpha
		}
		add(op, []string{prev}, attrs)
	}
	if len(args) != 0 {
		return nil, fmt.Errorf("fused_ops %q use %d extra inputs, the node has %d", ops, len(data)-2-len(args), len(data)-2)
	}
	last := chain[len(chain)-1]
	last.Name = name
	return chain, nil
}

// splitIdentityN replaces each IdentityN by one Identity per output, named
// "<node>/tbviz_out_<i>", rewires the consumers and records the aliases.
func splitIdentityN(nodes []*nodepb.NodeDef, alias map[string]string) ([]*nodepb.NodeDef, error) {
	rename := map[string]string{} // "node:i" → new tensor
	out := make([]*nodepb.NodeDef, 0, len(nodes))
	for _, n := range nodes {
		for i, in := range n.GetInput() {
			if strings.HasPrefix(in, "^") {
				continue
			}
			nm, k := SplitTensor(in)
			if r, ok := rename[nm+":"+strconv.Itoa(k)]; ok {
				n.Input[i] = r
			}
		}
		if n.GetOp() != "IdentityN" {
			out = append(out, n)
			continue
		}
		types := n.GetAttr()["T"].GetList().GetType()
		var data []string
		for _, in := range n.GetInput() {
			if !strings.HasPrefix(in, "^") {
				data = append(data, in)
			}
		}
		if len(types) != len(data) {
			return nil, fmt.Errorf("node %s (IdentityN): %d inputs but attribute T lists %d types", n.GetName(), len(data), len(types))
		}
		for i, in := range data {
			id := &nodepb.NodeDef{
				Name:   n.GetName() + "/tbviz_out_" + strconv.Itoa(i),
				Op:     "Identity",
				Input:  []string{in},
				Attr:   map[string]*attrpb.AttrValue{"T": {Value: &attrpb.AttrValue_Type{Type: types[i]}}},
				Device: n.GetDevice(),
			}
			out = append(out, id)
			key := n.GetName() + ":" + strconv.Itoa(i)
			rename[key] = id.Name
			if i == 0 {
				alias[n.GetName()] = id.Name
			} else {
				alias[key] = id.Name
			}
		}
	}
	return out, nil
}
