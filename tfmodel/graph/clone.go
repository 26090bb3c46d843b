package graph

// Clone returns a copy of g whose nodes are new Node values, so that
// setting a field of a cloned node (such as Value, to re-bind a variable)
// leaves g untouched. Inputs point at the clone's own nodes. The clone
// shares with g what engines only read: the tensors that Value points to,
// the Attrs maps and the OutShapes slices; replace a Value rather than
// writing into the tensor it points to.
func (g *Graph) Clone() *Graph {
	nodes := make([]*Node, len(g.Nodes))
	for i, n := range g.Nodes {
		c := *n
		nodes[i] = &c
	}
	index := make(map[string]*Node, len(nodes))
	for _, c := range nodes {
		if len(c.Inputs) > 0 {
			ins := make([]Endpoint, len(c.Inputs))
			for j, in := range c.Inputs {
				ins[j] = Endpoint{Node: nodes[in.Node.ID], Index: in.Index}
			}
			c.Inputs = ins
		}
		if len(c.OutShapes) > 0 {
			c.OutShapes = append([][]int(nil), c.OutShapes...)
		}
		index[c.Name] = c
	}
	return &Graph{Nodes: nodes, index: index}
}
