package graph

import (
	"testing"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func TestClone(t *testing.T) {
	w := &Node{Name: "w", Op: "ReadVariableOp", NumOutputs: 1, Value: tensor.FromFloat32([]float32{1, 2}, 2), VarKey: "w/.ATTRIBUTES/VARIABLE_VALUE"}
	x := &Node{Name: "x", Op: "Placeholder", NumOutputs: 1}
	y := &Node{Name: "y", Op: "Mul", NumOutputs: 1, OutShapes: [][]int{{2}}}
	y.Inputs = []Endpoint{x.Output(0), w.Output(0)}
	g, err := New([]*Node{w, x, y})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Clone()
	if len(c.Nodes) != 3 {
		t.Fatalf("%d nodes", len(c.Nodes))
	}
	for i, n := range c.Nodes {
		o := g.Nodes[i]
		if n == o {
			t.Fatalf("node %s is shared", n)
		}
		if n.ID != o.ID || n.Name != o.Name || n.Op != o.Op || n.VarKey != o.VarKey || n.Value != o.Value {
			t.Errorf("node %d: clone %+v differs from %+v", i, n, o)
		}
		if c.Node(n.Name) != n {
			t.Errorf("clone's index maps %q to %p, want %p", n.Name, c.Node(n.Name), n)
		}
	}
	cy := c.Node("y")
	if cy.Inputs[0].Node != c.Node("x") || cy.Inputs[1].Node != c.Node("w") || cy.Inputs[1].Index != 0 {
		t.Errorf("clone's inputs point outside the clone: %v", cy.Inputs)
	}
	if y.Inputs[1].Node != w {
		t.Errorf("original's inputs changed")
	}
	// Re-binding a value in the clone leaves the original alone.
	c.Node("w").Value = tensor.FromFloat32([]float32{5, 6}, 2)
	if w.Value.F32[0] != 1 {
		t.Errorf("original value changed to %v", w.Value)
	}
	cy.OutShapes[0] = []int{7}
	if y.OutShapes[0][0] != 2 {
		t.Errorf("original OutShapes changed")
	}
	// The clone is a valid graph.
	if _, err := New(c.Nodes); err != nil {
		t.Errorf("clone is not a valid graph: %v", err)
	}
	if _, err := c.Resolve("y:0"); err != nil {
		t.Error(err)
	}
}
