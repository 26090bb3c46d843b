package mathops

import (
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
)

func lookup(op string) (kernel.Def, bool) { return kernel.Lookup(op) }

func ctx(n *graph.Node) *kernel.Context { return &kernel.Context{Node: n} }

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
