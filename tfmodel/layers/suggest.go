package layers

import (
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/graph"
)

// passThrough ops keep the features of their input channel by channel:
// pooling, per-channel normalisation, identities (inference-time dropout)
// and padding. Suggest walks back over them.
var passThrough = map[string]bool{
	"MaxPool": true, "MaxPoolV2": true, "AvgPool": true,
	"FusedBatchNorm": true, "FusedBatchNormV2": true, "FusedBatchNormV3": true,
	"Identity": true, "Snapshot": true, "Pad": true, "PadV2": true, "MirrorPad": true,
}

// activationOps are the ops whose output is a rectified/squashed
// activation (the usual CAM target).
var activationOps = map[string]bool{
	"Relu": true, "Relu6": true, "Elu": true, "Selu": true, "LeakyRelu": true, "Sigmoid": true,
	"Tanh": true, "Softplus": true, "Prelu": true,
	"_FusedConv2D": true, "_FusedDepthwiseConv2dNative": true, "FusedDepthwiseConv2dNative": true,
}

// Suggest returns the suggested CAM target among spatial (the list from
// Spatial): the last spatial activation before the network's head.
//
// The rule: take the last node, in topological order, that ends the
// spatial part of the network — a global pooling (Mean or Max over axes
// 1 and 2, or an AvgPool/MaxPool whose window covers the whole map) or a
// Flatten (a Reshape to rank 2). From its data input, walk back over ops
// that keep each channel's features where they are (MaxPool, AvgPool,
// FusedBatchNorm*, Identity — inference-time Dropout — and padding) and
// return the layer where the walk stops. So a batch normalisation after
// the last activation is skipped: in mnist-seq-bn-tf210
// (Conv2D → BiasAdd → Relu → FusedBatchNormV3 → Flatten) the suggestion is
// sequential/conv2d_2/Relu, not the BN output; a per-channel affine
// rescaling of the same features only rescales Grad-CAM's channel weights.
// Likewise a MaxPool before Flatten is skipped (potato-disease-tf25:
// sequential_5/conv2d_23/Relu).
//
// When the graph has no such head, or the walk ends outside the spatial
// list, the suggestion is the last spatial layer whose op is an
// activation, or else the last spatial layer.
func Suggest(g *graph.Graph, spatial []Layer) (Layer, error) {
	if len(spatial) == 0 {
		return Layer{}, fmt.Errorf("layers: the model has no spatial (4-D NHWC, larger than 1x1) layer to target")
	}
	byName := map[string]Layer{}
	byScope := map[string]Layer{}
	for _, l := range spatial {
		byName[l.Name] = l
		byScope[l.Scope] = l
	}
	if g != nil {
		for i := len(g.Nodes) - 1; i >= 0; i-- {
			n := g.Nodes[i]
			if !isHead(n, byName) {
				continue
			}
			ep := n.Inputs[0]
			for steps := 0; passThrough[ep.Node.Op] && len(ep.Node.Inputs) > 0 && steps < len(g.Nodes); steps++ {
				ep = ep.Node.Inputs[0]
			}
			if l, ok := byName[ep.String()]; ok {
				return l, nil
			}
			if l, ok := byScope[ScopeOf(ep.Node.Name)]; ok {
				return l, nil
			}
		}
	}
	for i := len(spatial) - 1; i >= 0; i-- {
		if activationOps[spatial[i].Op] {
			return spatial[i], nil
		}
	}
	return spatial[len(spatial)-1], nil
}

// isHead reports whether n ends the spatial part of the network: global
// pooling or Flatten of a 4-D input.
func isHead(n *graph.Node, spatial map[string]Layer) bool {
	if len(n.Inputs) == 0 {
		return false
	}
	switch n.Op {
	case "Mean", "Max":
		if len(n.Inputs) != 2 || n.Inputs[1].Node.Value == nil {
			return false
		}
		axes, err := n.Inputs[1].Node.Value.Ints()
		if err != nil {
			return false
		}
		has := map[int]bool{}
		for _, a := range axes {
			if a < 0 {
				a += 4
			}
			has[a] = true
		}
		return len(has) == 2 && has[1] && has[2]
	case "AvgPool", "MaxPool":
		ks, err := n.AttrInts("ksize")
		if err != nil || len(ks) != 4 {
			return false
		}
		shape := inputShape(n.Inputs[0], spatial)
		return len(shape) == 4 && shape[1] > 0 && ks[1] >= shape[1] && ks[2] >= shape[2]
	case "Reshape":
		if len(n.OutShapes) > 0 && n.OutShapes[0] != nil {
			return len(n.OutShapes[0]) == 2
		}
		if len(n.Inputs) < 2 {
			return false
		}
		sh := n.Inputs[1].Node
		if sh.Value != nil {
			return sh.Value.Rank() == 1 && sh.Value.Len() == 2
		}
		return sh.Op == "Pack" && len(sh.Inputs) == 2
	}
	return false
}

func inputShape(ep graph.Endpoint, spatial map[string]Layer) []int {
	if l, ok := spatial[ep.String()]; ok {
		return l.Shape
	}
	if ep.Index < len(ep.Node.OutShapes) {
		return ep.Node.OutShapes[ep.Index]
	}
	return nil
}
