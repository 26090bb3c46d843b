package nn

import (
	"fmt"
	"math"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native/kernel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// SELU constants (Klambauer et al. 2017), as TensorFlow uses them.
const (
	seluScale = 1.0507009873554804934193349852946
	seluAlpha = 1.6732632423543772848170429916717
)

// activation is an element-wise nonlinearity, named by its TensorFlow op.
// The zero value (name "") is the identity. Prelu takes its slopes from a
// tensor argument rather than from alpha.
type activation struct {
	name  string
	alpha float64 // LeakyRelu slope
}

// activationNames maps the spellings found in graphs (TensorFlow op names
// and the lower-case names TF.js uses in fused_ops) to canonical names.
var activationNames = map[string]string{
	"relu": "Relu", "relu6": "Relu6", "elu": "Elu", "selu": "Selu",
	"leakyrelu": "LeakyRelu", "prelu": "Prelu", "sigmoid": "Sigmoid",
	"tanh": "Tanh", "softplus": "Softplus",
}

// activationByName returns the activation for an op name (any case);
// alpha is LeakyRelu's slope.
func activationByName(name string, alpha float64) (activation, error) {
	canon, ok := activationNames[toLowerASCII(name)]
	if !ok {
		return activation{}, fmt.Errorf("unsupported activation %q", name)
	}
	return activation{name: canon, alpha: alpha}, nil
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// isRectifier reports whether the backward pass of a follows the ReLU mode
// (normal, guided, deconv).
func (a activation) isRectifier() bool {
	switch a.name {
	case "Relu", "Relu6", "LeakyRelu", "Prelu":
		return true
	}
	return false
}

// needsInput reports whether a's gradient cannot be recovered from its
// output alone: a leaky slope that is not positive makes the sign of the
// input ambiguous (and Prelu's slope gradient needs the input where the
// slope is zero).
func needsInput[T tensor.Float](a activation, palpha []T) bool {
	switch a.name {
	case "LeakyRelu":
		return a.alpha < 0
	case "Prelu":
		for _, v := range palpha {
			if v <= 0 {
				return true
			}
		}
	}
	return false
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// applyActivation applies a to v in place. palpha holds Prelu's slopes,
// indexed by the flat index modulo len(palpha) (the slope shape is a
// suffix of v's shape).
func applyActivation[T tensor.Float](a activation, v []T, palpha []T) {
	switch a.name {
	case "":
	case "Relu":
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
	case "Relu6":
		for i, x := range v {
			v[i] = min(max(x, 0), 6)
		}
	case "LeakyRelu":
		al := T(a.alpha)
		for i, x := range v {
			if x < 0 {
				v[i] = al * x
			}
		}
	case "Prelu":
		k := len(palpha)
		for i, x := range v {
			if x < 0 {
				v[i] = palpha[i%k] * x
			}
		}
	case "Elu":
		for i, x := range v {
			if x < 0 {
				v[i] = T(math.Expm1(float64(x)))
			}
		}
	case "Selu":
		for i, x := range v {
			if x < 0 {
				v[i] = T(seluScale * seluAlpha * math.Expm1(float64(x)))
			} else {
				v[i] = T(seluScale) * x
			}
		}
	case "Sigmoid":
		for i, x := range v {
			v[i] = T(sigmoid(float64(x)))
		}
	case "Tanh":
		for i, x := range v {
			v[i] = T(math.Tanh(float64(x)))
		}
	case "Softplus":
		for i, x := range v {
			v[i] = T(softplus(float64(x)))
		}
	}
}

// activationGrad writes dz, the gradient with respect to the activation's
// input, given dy (the gradient with respect to its output). Exactly one
// of z (the input) and y (the output) is needed: pass nil for the other;
// y alone suffices unless needsInput. The rectifiers follow mode. dz may
// alias dy.
func activationGrad[T tensor.Float](a activation, mode engine.ReluMode, z, y, palpha, dy, dz []T) {
	if a.isRectifier() && mode == engine.ReluDeconv {
		for i, g := range dy {
			dz[i] = max(g, 0)
		}
		return
	}
	// pos reports whether element i is on the identity side.
	src := y
	if z != nil {
		src = z
	}
	switch a.name {
	case "":
		copy(dz, dy)
	case "Relu":
		for i, g := range dy {
			if !(src[i] > 0) {
				g = 0
			}
			dz[i] = g
		}
	case "Relu6":
		for i, g := range dy {
			if !(src[i] > 0 && src[i] < 6) {
				g = 0
			}
			dz[i] = g
		}
	case "LeakyRelu":
		al := T(a.alpha)
		for i, g := range dy {
			if !(src[i] > 0) {
				g *= al
			}
			dz[i] = g
		}
	case "Prelu":
		k := len(palpha)
		for i, g := range dy {
			if !(src[i] > 0) {
				g *= palpha[i%k]
			}
			dz[i] = g
		}
	case "Elu":
		for i, g := range dy {
			if !(src[i] > 0) {
				if z != nil {
					g *= T(math.Exp(float64(z[i])))
				} else {
					g *= y[i] + 1
				}
			}
			dz[i] = g
		}
	case "Selu":
		for i, g := range dy {
			switch {
			case src[i] > 0:
				g *= T(seluScale)
			case z != nil:
				g *= T(seluScale * seluAlpha * math.Exp(float64(z[i])))
			default:
				g *= y[i] + T(seluScale*seluAlpha)
			}
			dz[i] = g
		}
	case "Sigmoid":
		for i, g := range dy {
			s := src[i]
			if z != nil {
				s = T(sigmoid(float64(z[i])))
			}
			dz[i] = g * s * (1 - s)
		}
	case "Tanh":
		for i, g := range dy {
			t := src[i]
			if z != nil {
				t = T(math.Tanh(float64(z[i])))
			}
			dz[i] = g * (1 - t*t)
		}
	case "Softplus":
		for i, g := range dy {
			var s float64
			if z != nil {
				s = sigmoid(float64(z[i]))
			} else {
				s = -math.Expm1(-float64(y[i])) // sigmoid(z) = 1 - exp(-softplus(z))
			}
			dz[i] = g * T(s)
		}
	}
	if a.isRectifier() && mode == engine.ReluGuided {
		for i, g := range dy {
			if g < 0 {
				dz[i] = 0
			}
		}
	}
}

// preluAlphaGrad adds to dalpha (Prelu's slopes, indexed modulo) the true
// gradient Σ dy·z over the elements with z < 0, recovering z = y/alpha
// from the output when z is nil (valid when every slope is positive).
func preluAlphaGrad[T tensor.Float](z, y, palpha, dy, dalpha []T) {
	k := len(palpha)
	for i, g := range dy {
		var v T
		if z != nil {
			v = z[i]
		} else {
			v = y[i]
			if v < 0 {
				v /= palpha[i%k]
			}
		}
		if v < 0 {
			dalpha[i%k] += g * v
		}
	}
}

// checkSlopeShape checks that Prelu slopes of shape a broadcast against an
// output of shape out as a suffix (leading 1s of a dropped), the layout
// the modulo indexing of applyActivation assumes.
func checkSlopeShape(a, out []int) error {
	s := a
	for len(s) > 0 && s[0] == 1 {
		s = s[1:]
	}
	if len(s) > len(out) || !tensor.SameShape(s, out[len(out)-len(s):]) {
		return fmt.Errorf("slopes of shape %s (Prelu alpha) do not match the trailing dimensions of %s", tensor.ShapeString(a), tensor.ShapeString(out))
	}
	return nil
}

// Standalone activation ops.

func init() {
	for _, name := range []string{"Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus"} {
		kernel.Register(name, kernel.Def{
			Forward:     activationKernelForward,
			Backward:    activationKernelBackward,
			KeepInputs:  []int{},
			KeepOutputs: []int{0},
		})
	}
	kernel.Register("LeakyRelu", kernel.Def{
		Forward:    activationKernelForward,
		Backward:   activationKernelBackward,
		KeepInputs: []int{0},
		Check: func(n *graph.Node) error {
			_, err := nodeActivation(n)
			return err
		},
	})
	kernel.Register("Prelu", kernel.Def{
		Forward:    preluKernelForward,
		Backward:   preluKernelBackward,
		KeepInputs: []int{0, 1},
	})
}

// nodeActivation returns the activation of a standalone activation node.
func nodeActivation(n *graph.Node) (activation, error) {
	alpha := 0.2
	if n.Op == "LeakyRelu" && n.HasAttr("alpha") {
		var err error
		if alpha, err = n.AttrFloat("alpha"); err != nil {
			return activation{}, err
		}
	}
	return activationByName(n.Op, alpha)
}

func activationKernelForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(in) != 1 || in[0] == nil {
		return nil, c.Errorf("want 1 input, got %d", len(in))
	}
	if !in[0].DType.IsFloat() {
		return nil, c.Errorf("input is %v; want float32 or float64", in[0].DType)
	}
	a, err := nodeActivation(c.Node)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	y := in[0].Clone()
	if y.DType == tensor.Float32 {
		applyActivation[float32](a, y.F32, nil)
	} else {
		applyActivation[float64](a, y.F64, nil)
	}
	return []*tensor.Tensor{y}, nil
}

func activationKernelBackward(c *kernel.Context, in, out, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(dout) != 1 || len(in) != 1 {
		return nil, c.Errorf("backward wants 1 input and 1 output gradient")
	}
	dy := dout[0]
	if dy == nil {
		return []*tensor.Tensor{nil}, nil
	}
	a, err := nodeActivation(c.Node)
	if err != nil {
		return nil, c.Errorf("%v", err)
	}
	// LeakyRelu keeps its input; the others keep their output.
	z, y := in[0], out[0]
	ref := z
	if ref == nil {
		ref = y
	}
	if ref == nil {
		return nil, c.Errorf("backward: forward value not kept")
	}
	if err := checkGradShape(c, dy, ref.DType, ref.Shape); err != nil {
		return nil, err
	}
	dz := tensor.NewLike(dy)
	if dy.DType == tensor.Float32 {
		activationGrad(a, c.Relu, f32OrNil(z), f32OrNil(y), nil, dy.F32, dz.F32)
	} else {
		activationGrad(a, c.Relu, f64OrNil(z), f64OrNil(y), nil, dy.F64, dz.F64)
	}
	return []*tensor.Tensor{dz}, nil
}

func f32OrNil(t *tensor.Tensor) []float32 {
	if t == nil {
		return nil
	}
	return t.F32
}

func f64OrNil(t *tensor.Tensor) []float64 {
	if t == nil {
		return nil
	}
	return t.F64
}

// preluSetup validates Prelu's input and slopes.
func preluSetup(c *kernel.Context, in []*tensor.Tensor) error {
	if len(in) != 2 || in[0] == nil || in[1] == nil {
		return c.Errorf("want 2 inputs (x, alpha), got %d", len(in))
	}
	if !in[0].DType.IsFloat() || in[1].DType != in[0].DType {
		return c.Errorf("inputs are %v and %v; want the same float type", in[0].DType, in[1].DType)
	}
	if err := checkSlopeShape(in[1].Shape, in[0].Shape); err != nil {
		return c.Errorf("%v", err)
	}
	if in[1].Len() == 0 && in[0].Len() != 0 {
		return c.Errorf("empty Prelu slopes")
	}
	return nil
}

func preluKernelForward(c *kernel.Context, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := preluSetup(c, in); err != nil {
		return nil, err
	}
	y := in[0].Clone()
	a := activation{name: "Prelu"}
	if y.DType == tensor.Float32 {
		applyActivation(a, y.F32, in[1].F32)
	} else {
		applyActivation(a, y.F64, in[1].F64)
	}
	return []*tensor.Tensor{y}, nil
}

func preluKernelBackward(c *kernel.Context, in, _, dout []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := preluSetup(c, in); err != nil {
		return nil, err
	}
	if len(dout) != 1 || dout[0] == nil {
		return []*tensor.Tensor{nil, nil}, nil
	}
	dy := dout[0]
	if err := checkGradShape(c, dy, in[0].DType, in[0].Shape); err != nil {
		return nil, err
	}
	dx, da := tensor.NewLike(in[0]), tensor.NewLike(in[1])
	a := activation{name: "Prelu"}
	if dy.DType == tensor.Float32 {
		activationGrad(a, c.Relu, in[0].F32, nil, in[1].F32, dy.F32, dx.F32)
		preluAlphaGrad(in[0].F32, nil, in[1].F32, dy.F32, da.F32)
	} else {
		activationGrad(a, c.Relu, in[0].F64, nil, in[1].F64, dy.F64, dx.F64)
		preluAlphaGrad(in[0].F64, nil, in[1].F64, dy.F64, da.F64)
	}
	return []*tensor.Tensor{dx, da}, nil
}
