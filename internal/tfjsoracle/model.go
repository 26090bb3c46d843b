package tfjsoracle

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// Model is the part of a graph-model's model.json the tests need to pick
// inputs and intermediate nodes.
type Model struct {
	Nodes []ModelNode
}

// ModelNode is one node of the graph-model's topology.
type ModelNode struct {
	Name   string
	Op     string
	Inputs []string
	// Shape is a Placeholder's declared shape (-1 for unknown), nil
	// otherwise.
	Shape []int
}

// ReadModel parses the topology of a graph-model's model.json.
func ReadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tfjsoracle: %w", err)
	}
	var j struct {
		ModelTopology struct {
			Node []struct {
				Name  string   `json:"name"`
				Op    string   `json:"op"`
				Input []string `json:"input"`
				Attr  struct {
					Shape *struct {
						Shape struct {
							Dim []struct {
								Size string `json:"size"`
							} `json:"dim"`
						} `json:"shape"`
					} `json:"shape"`
				} `json:"attr"`
			} `json:"node"`
		} `json:"modelTopology"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("tfjsoracle: %s: %w", path, err)
	}
	m := &Model{}
	for _, n := range j.ModelTopology.Node {
		mn := ModelNode{Name: n.Name, Op: n.Op, Inputs: n.Input}
		if n.Op == "Placeholder" && n.Attr.Shape != nil {
			mn.Shape = []int{}
			for _, d := range n.Attr.Shape.Shape.Dim {
				v, err := strconv.Atoi(d.Size)
				if err != nil {
					return nil, fmt.Errorf("tfjsoracle: %s: node %s: bad dimension %q", path, n.Name, d.Size)
				}
				mn.Shape = append(mn.Shape, v)
			}
		}
		m.Nodes = append(m.Nodes, mn)
	}
	return m, nil
}

// Inputs returns the Placeholder nodes.
func (m *Model) Inputs() []ModelNode {
	var out []ModelNode
	for _, n := range m.Nodes {
		if n.Op == "Placeholder" {
			out = append(out, n)
		}
	}
	return out
}

// ByOp returns the nodes of the given op types, in graph order.
func (m *Model) ByOp(ops ...string) []ModelNode {
	var out []ModelNode
	for _, n := range m.Nodes {
		for _, op := range ops {
			if n.Op == op {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
