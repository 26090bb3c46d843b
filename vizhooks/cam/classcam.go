package cam

import (
	"context"
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// CAM is the original class activation map (Zhou et al. 2016). It applies
// only where global average pooling of the target layer feeds the dense
// layer that produces the class scores: S_c = Σ_k W_kc · GAP(A_k) + b_c.
// Then
//
//	M_c = Σ_k W_kc · A_k
//
// returned raw as in the paper (no ReLU; negative where the evidence is
// against the class). The pooling may be a Mean over axes 1 and 2 or an
// AvgPool whose window covers the map; between the layer, the pooling, the
// MatMul and the score there may be Identity, Reshape, Squeeze, BiasAdd
// and (for a softmax Score) Softmax. The weights W are read from the
// MatMul's constant or bound-variable input. Any other structure is an
// error naming what was found instead.
type CAM struct{}

func init() { Register(CAM{}, "classactivationmap") }

// Name returns "cam".
func (CAM) Name() string { return "cam" }

// Space returns LayerSpace.
func (CAM) Space() Space { return LayerSpace }

// Compute returns [B, h, w, 1] class activation maps.
func (CAM) Compute(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	m, err := classCAM(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("cam: %w", err)
	}
	return m, nil
}

// passOps forward a tensor without changing its values' meaning.
var passOps = map[string]bool{"Identity": true, "Snapshot": true, "Reshape": true, "Squeeze": true, "StopGradient": true}

// denseAfterGAP finds, after the layer, the global average pooling and the
// dense layer feeding the score; it returns the dense weights as a [C, K]
// (channel, class) accessor.
func denseAfterGAP(g *graph.Graph, layer, score string, h, w, c int) (weights func(k, cls int) float64, classes int, err error) {
	if g == nil {
		return nil, 0, fmt.Errorf("CAM needs the model graph (Input.Graph) to read the dense layer's weights")
	}
	lep, err := g.Resolve(layer)
	if err != nil {
		return nil, 0, fmt.Errorf("target layer: %w", err)
	}
	sep, err := g.Resolve(score)
	if err != nil {
		return nil, 0, fmt.Errorf("score tensor: %w", err)
	}
	consumers := g.Consumers()
	// next returns the single consumer reading ep, or an error describing
	// the structure found.
	next := func(ep graph.Endpoint) (*graph.Node, error) {
		var found []*graph.Node
		for _, c := range consumers[ep.Node.ID] {
			for _, in := range c.Inputs {
				if in == ep {
					found = append(found, c)
					break
				}
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("CAM needs GAP→Dense after the target layer; found nothing reading %s", ep)
		case 1:
			return found[0], nil
		}
		return nil, fmt.Errorf("CAM needs GAP→Dense after the target layer; found %d ops reading %s (%s, %s, …)", len(found), ep, found[0], found[1])
	}
	ep := lep
	n, err := next(ep)
	if err != nil {
		return nil, 0, err
	}
	for passOps[n.Op] && n.Op != "Reshape" && n.Op != "Squeeze" {
		if n, err = next(n.Output(0)); err != nil {
			return nil, 0, err
		}
	}
	if !isGAP(n, h, w) {
		return nil, 0, fmt.Errorf("CAM needs GAP→Dense after the target layer; found %s reading %s (not a global average pooling over the %dx%d map)", n, lep, h, w)
	}
	gap := n
	if n, err = next(n.Output(0)); err != nil {
		return nil, 0, err
	}
	for passOps[n.Op] {
		if n, err = next(n.Output(0)); err != nil {
			return nil, 0, err
		}
	}
	if n.Op != "MatMul" || len(n.Inputs) != 2 || n.Inputs[1].Node == gap {
		return nil, 0, fmt.Errorf("CAM needs GAP→Dense after the target layer; found %s after the pooling %s", n, gap.Name)
	}
	wn := n.Inputs[1].Node
	for wn.Value == nil && (passOps[wn.Op] || wn.Op == "ReadVariableOp") && len(wn.Inputs) > 0 {
		wn = wn.Inputs[0].Node
	}
	if wn.Value == nil || !wn.Value.DType.IsFloat() || wn.Value.Rank() != 2 {
		return nil, 0, fmt.Errorf("CAM needs GAP→Dense after the target layer; the dense layer %s has no constant 2-D weight matrix (input %s)", n, n.Inputs[1])
	}
	if ta, _ := n.AttrBool("transpose_a"); ta {
		return nil, 0, fmt.Errorf("CAM: dense layer %s has transpose_a set", n)
	}
	tb, _ := n.AttrBool("transpose_b")
	W := wn.Value
	rows, cols := W.Shape[0], W.Shape[1]
	weights = func(k, cls int) float64 { return W.Float(k*cols + cls) }
	classes, inDim := cols, rows
	if tb {
		weights = func(k, cls int) float64 { return W.Float(cls*cols + k) }
		classes, inDim = rows, cols
	}
	if inDim != c {
		return nil, 0, fmt.Errorf("CAM: the dense layer %s has %d inputs, but the target layer %s has %d channels", n, inDim, layer, c)
	}
	// The score must be this MatMul's output, possibly through BiasAdd,
	// identities and a Softmax.
	s := sep
	for s.Node != n {
		sn := s.Node
		switch {
		case sn.Op == "BiasAdd" || sn.Op == "Softmax" || passOps[sn.Op]:
			s = sn.Inputs[0]
		case (sn.Op == "AddV2" || sn.Op == "Add") && len(sn.Inputs) == 2 && sn.Inputs[1].Node.Value != nil:
			s = sn.Inputs[0]
		default:
			return nil, 0, fmt.Errorf("CAM needs GAP→Dense after the target layer, with the dense layer producing the scores; the score tensor %s is computed from %s, not directly from the dense layer %s after the pooling", score, sn, n.Name)
		}
	}
	return weights, classes, nil
}

// isGAP reports whether n averages its input over the whole h×w map.
func isGAP(n *graph.Node, h, w int) bool {
	switch n.Op {
	case "Mean":
		if len(n.Inputs) != 2 || n.Inputs[1].Node.Value == nil {
			return false
		}
		axes, err := n.Inputs[1].Node.Value.Ints()
		if err != nil || len(axes) != 2 {
			return false
		}
		has := map[int]bool{}
		for _, a := range axes {
			if a < 0 {
				a += 4
			}
			has[a] = true
		}
		return has[1] && has[2]
	case "AvgPool":
		ks, err := n.AttrInts("ksize")
		return err == nil && len(ks) == 4 && ks[1] == h && ks[2] == w
	}
	return false
}

func classCAM(ctx context.Context, in *Input) (*tensor.Tensor, error) {
	b, _, _, _, err := in.checkLayer()
	if err != nil {
		return nil, err
	}
	acts, err := in.activations(ctx)
	if err != nil {
		return nil, err
	}
	h, w, c := acts.Shape[1], acts.Shape[2], acts.Shape[3]
	weights, classes, err := denseAfterGAP(in.Graph, in.Layer, in.Score, h, w, c)
	if err != nil {
		return nil, err
	}
	hw := h * w
	out := newMaps(b, h, w, 1)
	for i := range b {
		cls := in.Classes[i]
		if cls >= classes {
			return nil, fmt.Errorf("image %d: class index %d out of range: the dense layer has %d classes", i, cls, classes)
		}
		wk := make([]float64, c)
		for k := range c {
			wk[k] = weights(k, cls)
		}
		a := make([]float64, hw*c)
		for j, v := range acts.F32[i*hw*c : (i+1)*hw*c] {
			a[j] = float64(v)
		}
		putMap(out.F32[i*hw:(i+1)*hw], weightedSum(a, wk, hw, c))
	}
	return out, nil
}
