package tfmodel

import (
	"math"

	"github.com/tbviz/tbviz/tfmodel/graph"
)

// InputScale reports whether the graph rescales its image input itself, as
// a Keras Rescaling(1/255) or Rescaling(1/127.5, offset=-1) layer does: it
// follows the signature input through shape-preserving ops (Identity,
// Cast, resizing) to the first Mul or RealDiv by a scalar constant. It
// returns the range the model expects from callers ([0, 255] when such a
// rescaling is found) and a human-readable reason; ok is false when the
// graph gives no hint, and callers should then default to [0, 1] and say
// so.
func (m *Model) InputScale() (lo, hi float64, reason string, ok bool) {
	if len(m.Signature.Inputs) != 1 {
		return 0, 0, "", false
	}
	ep, err := m.Graph.Resolve(m.Signature.Inputs[0].Tensor)
	if err != nil {
		return 0, 0, "", false
	}
	cur := ep.Node
	passthrough := map[string]bool{"Identity": true, "Cast": true, "ResizeBilinear": true, "ResizeNearestNeighbor": true, "PlaceholderWithDefault": true}
	for range 16 {
		var next *graph.Node
		for _, n := range m.Graph.Nodes {
			if n.ID <= cur.ID {
				continue
			}
			for _, in := range n.Inputs {
				if in.Node == cur {
					next = n
					break
				}
			}
			if next != nil {
				break
			}
		}
		if next == nil {
			return 0, 0, "", false
		}
		switch {
		case passthrough[next.Op]:
			cur = next
			continue
		case next.Op == "Mul" || next.Op == "RealDiv":
			for _, in := range next.Inputs {
				if in.Node == cur || in.Node.Value == nil || in.Node.Value.Len() != 1 || !in.Node.Value.DType.IsFloat() {
					continue
				}
				c := in.Node.Value.Float(0)
				if next.Op == "RealDiv" && c != 0 {
					c = 1 / c
				}
				for _, s := range []float64{1.0 / 255, 1.0 / 127.5} {
					if math.Abs(c-s) < 1e-6 {
						return 0, 255, "the graph rescales its input at " + next.Name, true
					}
				}
			}
		}
		return 0, 0, "", false
	}
	return 0, 0, "", false
}
