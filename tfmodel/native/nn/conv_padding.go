package nn

import (
	"fmt"

	"github.com/tbviz/tbviz/tfmodel/graph"
)

// Window geometry shared by the NHWC windowed ops (convolutions, pooling).

// windowOutput returns the output size and the padding before the first
// element of one spatial dimension of a sliding window, as TensorFlow
// computes them: for SAME, out = ceil(in/stride) and the total padding is
// split with the extra element after (bottom/right); for VALID there is no
// padding; for EXPLICIT the given padBefore/padAfter are used. k is the
// window size and dil its dilation. It returns an error when the (dilated)
// window does not fit the padded input.
func windowOutput(in, k, stride, dil int, padding string, padBefore, padAfter int) (out, before int, err error) {
	if in < 0 || k <= 0 || stride <= 0 || dil <= 0 {
		return 0, 0, fmt.Errorf("bad window: input size %d, window %d, stride %d, dilation %d", in, k, stride, dil)
	}
	eff := (k-1)*dil + 1
	switch padding {
	case "SAME":
		out = (in + stride - 1) / stride
		total := max((out-1)*stride+eff-in, 0)
		return out, total / 2, nil
	case "VALID":
		padBefore, padAfter = 0, 0
	case "EXPLICIT":
		if padBefore < 0 || padAfter < 0 {
			return 0, 0, fmt.Errorf("negative explicit padding (%d, %d)", padBefore, padAfter)
		}
	default:
		return 0, 0, fmt.Errorf("unknown padding %q (want SAME, VALID or EXPLICIT)", padding)
	}
	padded := in + padBefore + padAfter
	if padded < eff {
		return 0, 0, fmt.Errorf("window of effective size %d (size %d, dilation %d) is larger than the padded input size %d", eff, k, dil, padded)
	}
	return (padded-eff)/stride + 1, padBefore, nil
}

// convParams are the parsed attributes of a 2-D windowed op over NHWC
// tensors: strides, dilations, padding and explicit_paddings.
type convParams struct {
	strideH, strideW int
	dilH, dilW       int
	padding          string
	// explicit holds top, bottom, left, right for EXPLICIT padding.
	explicit [4]int
}

// checkNHWC returns an error unless the node's data_format attribute is
// absent or "NHWC".
func checkNHWC(n *graph.Node) error {
	if !n.HasAttr("data_format") {
		return nil
	}
	df, err := n.AttrString("data_format")
	if err != nil {
		return err
	}
	if df != "NHWC" {
		return fmt.Errorf("node %s: data_format %q is not supported (only NHWC)", n, df)
	}
	return nil
}

// parseConvParams reads strides, dilations (default 1), padding and
// explicit_paddings of an NHWC 2-D convolution node and validates them.
func parseConvParams(n *graph.Node) (convParams, error) {
	var p convParams
	if err := checkNHWC(n); err != nil {
		return p, err
	}
	strides, err := n.AttrInts("strides")
	if err != nil {
		return p, err
	}
	if len(strides) != 4 {
		return p, fmt.Errorf("node %s: strides %v must have 4 entries (NHWC)", n, strides)
	}
	if strides[0] != 1 || strides[3] != 1 {
		return p, fmt.Errorf("node %s: strides %v: batch and channel strides must be 1", n, strides)
	}
	if strides[1] <= 0 || strides[2] <= 0 {
		return p, fmt.Errorf("node %s: strides %v must be positive", n, strides)
	}
	p.strideH, p.strideW = strides[1], strides[2]
	p.dilH, p.dilW = 1, 1
	if n.HasAttr("dilations") {
		d, err := n.AttrInts("dilations")
		if err != nil {
			return p, err
		}
		if len(d) != 4 {
			return p, fmt.Errorf("node %s: dilations %v must have 4 entries (NHWC)", n, d)
		}
		if d[0] != 1 || d[3] != 1 {
			return p, fmt.Errorf("node %s: dilations %v: batch and channel dilations must be 1", n, d)
		}
		if d[1] <= 0 || d[2] <= 0 {
			return p, fmt.Errorf("node %s: dilations %v must be positive", n, d)
		}
		p.dilH, p.dilW = d[1], d[2]
	}
	p.padding, err = n.AttrString("padding")
	if err != nil {
		return p, err
	}
	var ep []int
	if n.HasAttr("explicit_paddings") {
		if ep, err = n.AttrInts("explicit_paddings"); err != nil {
			return p, err
		}
	}
	switch p.padding {
	case "SAME", "VALID":
		if len(ep) != 0 {
			return p, fmt.Errorf("node %s: explicit_paddings %v must be empty when padding is %s", n, ep, p.padding)
		}
	case "EXPLICIT":
		if len(ep) != 8 {
			return p, fmt.Errorf("node %s: explicit_paddings %v must have 8 entries (before/after for N, H, W, C)", n, ep)
		}
		for _, v := range ep {
			if v < 0 {
				return p, fmt.Errorf("node %s: explicit_paddings %v must not be negative", n, ep)
			}
		}
		if ep[0] != 0 || ep[1] != 0 || ep[6] != 0 || ep[7] != 0 {
			return p, fmt.Errorf("node %s: explicit_paddings %v: batch and channel padding must be 0", n, ep)
		}
		copy(p.explicit[:], ep[2:6])
	default:
		return p, fmt.Errorf("node %s: padding %q is not SAME, VALID or EXPLICIT", n, p.padding)
	}
	return p, nil
}

// convGeom is the full geometry of one NHWC 2-D windowed op.
type convGeom struct {
	n, h, w, c  int // input
	kh, kw      int // window
	sh, sw      int // strides
	dh, dw      int // dilations
	padT, padL  int // padding before (top, left)
	oh, ow      int // output spatial size
	mult, outCh int // output channels per input channel (depthwise), output channels
}

// geometry computes the output size and padding for an input of shape
// [n, h, w, c] and a kh x kw window.
func (p convParams) geometry(n, h, w, c, kh, kw int) (convGeom, error) {
	g := convGeom{n: n, h: h, w: w, c: c, kh: kh, kw: kw, sh: p.strideH, sw: p.strideW, dh: p.dilH, dw: p.dilW}
	var err error
	if g.oh, g.padT, err = windowOutput(h, kh, p.strideH, p.dilH, p.padding, p.explicit[0], p.explicit[1]); err != nil {
		return g, fmt.Errorf("height: %w", err)
	}
	if g.ow, g.padL, err = windowOutput(w, kw, p.strideW, p.dilW, p.padding, p.explicit[2], p.explicit[3]); err != nil {
		return g, fmt.Errorf("width: %w", err)
	}
	return g, nil
}
