// Package filters visualizes what a convolutional network's units respond
// to by activation maximisation: starting from noise, gradient ascent on
// the input image raises the mean activation of one channel of a layer (or
// one neuron, or a class logit).
//
// Two forms are offered. The plain form is the Keras example's: the pixels
// are the parameters and each step adds the L2-normalised gradient.
// The regularised form, the default, is lucid's (Olah et al., "Feature
// Visualization", Distill 2017): the image is synthesised from a
// 1/f-scaled Fourier spectrum through ImageNet colour decorrelation and a
// sigmoid, optimised with Adam, and each step sees it randomly translated,
// zoomed and rotated. Gaussian blur (Yosinski et al. 2015), total-variation
// and L2 penalties (Mahendran & Vedaldi 2015) can be added.
//
// Many channels are optimised together: batch element b holds the image of
// channels[b], and each has its own random stream derived from the seed and
// its channel, so an image does not depend on the others in its batch.
package filters

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/imageio"
)

// Regularizer is a set of regularisers, combined with |.
type Regularizer uint32

// The regularisers. Default is used when Config.Regularizers is zero.
const (
	// Jitter translates the image by a random whole number of pixels each
	// step.
	Jitter Regularizer = 1 << iota
	// Scale zooms the image by a random factor each step.
	Scale
	// Rotate rotates the image by a random angle each step.
	Rotate
	// Blur smooths the parameters with a Gaussian every few steps.
	Blur
	// TV subtracts a total-variation penalty from the objective.
	TV
	// L2 subtracts the mean squared distance from grey from the objective.
	L2
	// Fourier synthesises the image from a 1/f-scaled spectrum.
	Fourier
	// Decorrelate parameterises colour in ImageNet's decorrelated colour
	// space (3-channel inputs only).
	Decorrelate

	// None asks for no regulariser at all: the plain form, pixels as
	// parameters and L2-normalised gradient steps.
	None Regularizer = 1 << 31

	// Default is lucid's standard recipe.
	Default = Fourier | Decorrelate | Jitter | Scale | Rotate
)

var regNames = []struct {
	r    Regularizer
	name string
}{{Jitter, "jitter"}, {Scale, "scale"}, {Rotate, "rotate"}, {Blur, "blur"}, {TV, "tv"}, {L2, "l2"}, {Fourier, "fourier"}, {Decorrelate, "decorrelate"}}

// ParseRegularizers parses a comma-separated list of regulariser names
// (jitter, scale, rotate, blur, tv, l2, fourier, decorrelate), "none" or
// "default".
func ParseRegularizers(s string) (Regularizer, error) {
	var r Regularizer
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch f {
		case "":
			continue
		case "none":
			r |= None
			continue
		case "default":
			r |= Default
			continue
		}
		found := false
		for _, n := range regNames {
			if n.name == f {
				r |= n.r
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("regularizer %q: want a comma-separated list of %s, or none, or default", f, regList())
		}
	}
	if r&None != 0 && r != None {
		return 0, fmt.Errorf("regularizers %q: none cannot be combined with others", s)
	}
	if r == 0 {
		return 0, fmt.Errorf("regularizers %q: empty; want %s, none or default", s, regList())
	}
	return r, nil
}

func regList() string {
	var ns []string
	for _, n := range regNames {
		ns = append(ns, n.name)
	}
	return strings.Join(ns, ", ")
}

// String lists the set as ParseRegularizers reads it ("none" for None,
// "default" for zero).
func (r Regularizer) String() string {
	switch r {
	case 0:
		return "default"
	case None:
		return "none"
	}
	var ns []string
	for _, n := range regNames {
		if r&n.r != 0 {
			ns = append(ns, n.name)
		}
	}
	return strings.Join(ns, ",")
}

// ObjectiveKind selects what is maximised for each selected unit.
type ObjectiveKind uint8

const (
	// Channel maximises the spatial mean of a channel of a 4-D NHWC layer
	// (for a 2-D [batch, units] layer, the unit itself).
	Channel ObjectiveKind = iota
	// Neuron maximises one spatial position of a channel.
	Neuron
	// Logit maximises a unit of a 2-D [batch, classes] score tensor (the
	// caller passes the logits, e.g. from layers.ScoreTensor).
	Logit
)

// String returns "channel", "neuron" or "logit".
func (k ObjectiveKind) String() string {
	switch k {
	case Neuron:
		return "neuron"
	case Logit:
		return "logit"
	}
	return "channel"
}

// Objective is what the ascent maximises. The zero value is the channel
// mean.
type Objective struct {
	Kind ObjectiveKind
	// Y, X locate a Neuron in the layer's spatial grid; a negative value
	// means the centre (size/2).
	Y, X int
}

// Optimizer is the update rule.
type Optimizer uint8

const (
	// Auto is Adam for the sigmoid parameterisations (Fourier or
	// Decorrelate set) and NormalizedGradient for plain pixels.
	Auto Optimizer = iota
	// Adam is Adam (β1 0.9, β2 0.999) on the parameters.
	Adam
	// NormalizedGradient is the Keras example's step: θ += LR·√n·g/‖g‖₂,
	// the L2-normalised gradient scaled so that LR is the RMS change per
	// parameter.
	NormalizedGradient
)

// Config controls Run. The zero value is ready to use: lucid's recipe at
// the model's input size, 256 steps, seed 0. A zero field takes the default
// given in its comment.
type Config struct {
	// Steps is the number of ascent steps: 0 means 256.
	Steps int
	// Size is the side of the square image optimised: 0 means the model's
	// input size (Input.Height; 128 when that is unknown). When the model
	// has a fixed input size the image is resized to it before each pass.
	Size int
	// Regularizers: 0 means Default; None means the plain form.
	Regularizers Regularizer
	// Optimizer: Auto (0) chooses by parameterisation.
	Optimizer Optimizer
	// LR is the learning rate: 0 means 0.05 for Adam, 0.02 for
	// NormalizedGradient (as an RMS pixel change in [0, 1] units).
	LR float64
	// Seed selects the random start and the random transforms; the same
	// seed gives the same images.
	Seed uint64
	// JitterPx is the largest translation, in image pixels: 0 means
	// max(1, Size/16).
	JitterPx float64
	// ScaleAmount is the largest relative zoom: 0 means 0.1 (0.9–1.1).
	ScaleAmount float64
	// RotateDeg is the largest rotation in degrees: 0 means 10.
	RotateDeg float64
	// BlurSigma is the Gaussian's standard deviation in pixels, applied
	// every BlurEvery steps: 0 means 0.5 and 4.
	BlurSigma float64
	BlurEvery int
	// TVWeight and L2Weight weigh the penalties against the objective:
	// 0 means 0.05 and 0.5.
	TVWeight, L2Weight float64
	// Objective is what is maximised (zero: channel mean).
	Objective Objective
	// Batch is the most images per engine call: 0 means 16.
	Batch int
	// Progress, if set, is called after each step with the number of
	// steps done and the total (Steps times the number of batches).
	Progress func(done, total int)
}

// MaxSize bounds Config.Size.
const MaxSize = 2048

// settings is Config with defaults filled in.
type settings struct {
	Config
	fourier, decor, sigmoid bool
	optimizer               Optimizer
}

func (c Config) resolve(inH, ch int) (settings, error) {
	s := settings{Config: c}
	if s.Steps == 0 {
		s.Steps = 256
	}
	if s.Steps < 0 || s.Steps > 1_000_000 {
		return s, fmt.Errorf("steps %d: want 1 to 1000000", s.Steps)
	}
	if s.Size == 0 {
		s.Size = inH
		if s.Size <= 0 {
			s.Size = 128
		}
	}
	if s.Size < 2 || s.Size > MaxSize {
		return s, fmt.Errorf("size %d: want 2 to %d pixels", s.Size, MaxSize)
	}
	if s.Regularizers == 0 {
		s.Regularizers = Default
	}
	if s.Regularizers&None != 0 && s.Regularizers != None {
		return s, fmt.Errorf("regularizers %v: None cannot be combined with others", s.Regularizers&^None)
	}
	r := s.Regularizers
	s.fourier = r&Fourier != 0
	s.decor = r&Decorrelate != 0 && ch == 3
	s.sigmoid = s.fourier || s.decor
	s.optimizer = s.Optimizer
	if s.optimizer == Auto {
		s.optimizer = NormalizedGradient
		if s.sigmoid {
			s.optimizer = Adam
		}
	}
	if s.optimizer != Adam && s.optimizer != NormalizedGradient {
		return s, fmt.Errorf("optimizer %d: want Auto, Adam or NormalizedGradient", s.optimizer)
	}
	if s.LR == 0 {
		s.LR = 0.05
		if s.optimizer == NormalizedGradient {
			s.LR = 0.02
		}
	}
	def := func(v *float64, d float64, name string) error {
		if *v == 0 {
			*v = d
		}
		if *v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0) {
			return fmt.Errorf("%s %g: want a positive finite number (0 for the default)", name, *v)
		}
		return nil
	}
	for _, d := range []struct {
		v    *float64
		d    float64
		name string
	}{{&s.LR, 0, "learning rate"}, {&s.JitterPx, math.Max(1, float64(s.Size)/16), "jitter"}, {&s.ScaleAmount, 0.1, "scale"},
		{&s.RotateDeg, 10, "rotation"}, {&s.BlurSigma, 0.5, "blur sigma"}, {&s.TVWeight, 0.05, "TV weight"}, {&s.L2Weight, 0.5, "L2 weight"}} {
		if err := def(d.v, d.d, d.name); err != nil {
			return s, err
		}
	}
	if s.ScaleAmount >= 1 {
		return s, fmt.Errorf("scale %g: want less than 1", s.ScaleAmount)
	}
	if s.BlurEvery == 0 {
		s.BlurEvery = 4
	}
	if s.BlurEvery < 0 {
		return s, fmt.Errorf("blur every %d steps: want a positive number", s.BlurEvery)
	}
	if s.Batch == 0 {
		s.Batch = 16
	}
	if s.Batch < 0 {
		return s, fmt.Errorf("batch %d: want a positive number", s.Batch)
	}
	if s.Objective.Kind > Logit {
		return s, fmt.Errorf("objective kind %d: want Channel, Neuron or Logit", s.Objective.Kind)
	}
	return s, nil
}

// Input describes the model input the images are fed to.
type Input struct {
	// Tensor is the input tensor's name in the graph.
	Tensor string
	// Height and Width are the model's fixed input size; 0 when the model
	// takes any size (the image is then fed at Config.Size).
	Height, Width int
	// Channels is 1 (grayscale) or 3 (RGB).
	Channels int
	// Range is the value range the model expects; the zero value means
	// [0, 1]. Image value v in [0, 1] is fed as Lo + v·(Hi − Lo).
	Range imageio.Range
}

// Layer names the tensor whose units are visualized.
type Layer struct {
	// Tensor is the target tensor's name, e.g. "sequential/conv2d_1/Relu".
	Tensor string
	// PreActivation, when set, is the input of the target's rectifier
	// (see LayerOf). A unit that is dead on the current image (zero
	// gradient) then climbs the gradient of its pre-activation instead
	// until it comes alive. Without it, dead units take the deconvnet
	// gradient (engine.ReluDeconv), which passes positive gradients
	// through closed rectifiers, like lucid's redirected ReLU.
	PreActivation string
}

// rectifiers are the elementwise activations whose input LayerOf reports.
var rectifiers = map[string]bool{"Relu": true, "Relu6": true, "LeakyRelu": true, "Elu": true, "Selu": true}

// LayerOf returns the Layer for a tensor of g, with PreActivation set when
// the tensor is the output of an elementwise rectifier (Relu, Relu6,
// LeakyRelu, Elu, Selu).
func LayerOf(g *graph.Graph, tensorName string) (Layer, error) {
	ep, err := g.Resolve(tensorName)
	if err != nil {
		return Layer{}, fmt.Errorf("filters: %w", err)
	}
	l := Layer{Tensor: ep.String()}
	if n := ep.Node; ep.Index == 0 && rectifiers[n.Op] && len(n.Inputs) > 0 {
		l.PreActivation = n.Inputs[0].String()
	}
	return l, nil
}

// Result is the outcome of Run.
type Result struct {
	// Layer is the target tensor's name.
	Layer string
	// Size is the side of every image; Channels its number of colour
	// channels (1 or 3).
	Size, Channels int
	// Units holds one entry per requested channel, in request order.
	Units []Unit
	// Config is the configuration used, defaults filled in (Progress nil).
	Config Config
}

// Unit is the visualization of one channel (or neuron, or class).
type Unit struct {
	// Channel is the channel (or class) index in the target layer.
	Channel int
	// Pixels is the Size×Size image, HWC, values in [0, 1].
	Pixels []float32
	// Start and Final are the objective (e.g. the channel's mean
	// activation) on the starting noise and on the final image, both seen
	// without random transforms.
	Start, Final float64
}

// Image returns the unit's image as 8-bit RGB (grey replicated).
func (r *Result) Image(i int) *image.RGBA {
	u := r.Units[i]
	img := image.NewRGBA(image.Rect(0, 0, r.Size, r.Size))
	c := r.Channels
	for p := range r.Size * r.Size {
		px := u.Pixels[p*c : (p+1)*c]
		to8 := func(v float32) uint8 { return uint8(math.Round(float64(min(max(v, 0), 1)) * 255)) }
		var col color.RGBA
		if c == 3 {
			col = color.RGBA{to8(px[0]), to8(px[1]), to8(px[2]), 255}
		} else {
			g := to8(px[0])
			col = color.RGBA{g, g, g, 255}
		}
		img.SetRGBA(p%r.Size, p/r.Size, col)
	}
	return img
}

// Run optimises one image per entry of channels to maximise the objective
// on the target layer (e.g. "sequential/conv2d_1/Relu" or
// "StatefulPartitionedCall/.../expand/Relu6") and returns the images.
func Run(ctx context.Context, eng engine.Engine, in Input, target Layer, channels []int, cfg Config) (*Result, error) {
	layer := target.Tensor
	if eng == nil {
		return nil, fmt.Errorf("filters: nil engine")
	}
	if in.Tensor == "" {
		return nil, fmt.Errorf("filters: no input tensor name")
	}
	if layer == "" {
		return nil, fmt.Errorf("filters: no target layer")
	}
	if in.Channels != 1 && in.Channels != 3 {
		return nil, fmt.Errorf("filters: input %s has %d channels; want 1 or 3", in.Tensor, in.Channels)
	}
	if in.Height < 0 || in.Width < 0 || in.Height > imageio.MaxSide || in.Width > imageio.MaxSide || (in.Height == 0) != (in.Width == 0) {
		return nil, fmt.Errorf("filters: input %s size %dx%d: want both 1..%d, or both 0 for any size", in.Tensor, in.Height, in.Width, imageio.MaxSide)
	}
	if len(channels) == 0 {
		return nil, fmt.Errorf("filters: no channels to visualize")
	}
	for _, c := range channels {
		if c < 0 {
			return nil, fmt.Errorf("filters: channel %d: must be non-negative", c)
		}
	}
	rng := in.Range
	if rng == (imageio.Range{}) {
		rng = imageio.Range01
	}
	if !(rng.Hi > rng.Lo) || math.IsInf(rng.Lo, 0) || math.IsInf(rng.Hi, 0) {
		return nil, fmt.Errorf("filters: input range %v: want finite lo < hi", rng)
	}
	s, err := cfg.resolve(in.Height, in.Channels)
	if err != nil {
		return nil, fmt.Errorf("filters: %w", err)
	}
	oh, ow := in.Height, in.Width
	if oh == 0 {
		oh, ow = s.Size, s.Size
	}
	res := &Result{Layer: layer, Size: s.Size, Channels: in.Channels, Config: s.Config}
	res.Config.Progress = nil
	res.Config.Optimizer = s.optimizer
	nb := (len(channels) + s.Batch - 1) / s.Batch
	total := nb * s.Steps
	for b := 0; b < nb; b++ {
		lo, hi := b*s.Batch, min((b+1)*s.Batch, len(channels))
		r := &runner{s: &s, eng: eng, in: in, rng: rng, layer: layer, pre: target.PreActivation, oh: oh, ow: ow, channels: channels[lo:hi]}
		units, err := r.run(ctx, func(step int) {
			if s.Progress != nil {
				s.Progress(b*s.Steps+step, total)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("filters: %s: %w", layer, err)
		}
		res.Units = append(res.Units, units...)
	}
	return res, nil
}

// runner optimises one batch.
type runner struct {
	s        *settings
	eng      engine.Engine
	in       Input
	rng      imageio.Range
	layer    string
	pre      string
	oh, ow   int
	channels []int
	params   []*param
	rands    []*rand.Rand
	opts     []*adam
	w        work
}

// seedFor returns dL/dA for the objective, given the target's forward
// value, checking the layer's shape and the channel indices.
func (r *runner) seedFor(a *tensor.Tensor) (*tensor.Tensor, error) {
	o := r.s.Objective
	switch {
	case a.DType != tensor.Float32:
		return nil, fmt.Errorf("target is %v; want float32", a.DType)
	case o.Kind == Logit && a.Rank() != 2:
		return nil, fmt.Errorf("logit objective: target has shape %s; want [batch, classes]", tensor.ShapeString(a.Shape))
	case o.Kind == Neuron && a.Rank() != 4:
		return nil, fmt.Errorf("neuron objective: target has shape %s; want [batch, height, width, channels]", tensor.ShapeString(a.Shape))
	case a.Rank() != 2 && a.Rank() != 4:
		return nil, fmt.Errorf("target has shape %s; want [batch, height, width, channels] or [batch, units]", tensor.ShapeString(a.Shape))
	case a.Shape[0] != len(r.channels):
		return nil, fmt.Errorf("target has batch %d; want %d", a.Shape[0], len(r.channels))
	}
	k := a.Shape[a.Rank()-1]
	for _, c := range r.channels {
		if c >= k {
			return nil, fmt.Errorf("channel %d out of range: the layer has %d channels (shape %s)", c, k, tensor.ShapeString(a.Shape))
		}
	}
	seed := tensor.NewLike(a)
	if a.Rank() == 2 {
		for b, c := range r.channels {
			seed.F32[b*k+c] = 1
		}
		return seed, nil
	}
	h, w := a.Shape[1], a.Shape[2]
	for b, c := range r.channels {
		if o.Kind == Neuron {
			y, x := o.Y, o.X
			if y < 0 {
				y = h / 2
			}
			if x < 0 {
				x = w / 2
			}
			if y >= h || x >= w {
				return nil, fmt.Errorf("neuron (%d, %d) outside the layer's %dx%d grid", o.Y, o.X, h, w)
			}
			seed.F32[((b*h+y)*w+x)*k+c] = 1
			continue
		}
		v := float32(1 / float64(h*w))
		for p := range h * w {
			seed.F32[(b*h*w+p)*k+c] = v
		}
	}
	return seed, nil
}

// objectives returns the objective per batch element from the target's
// value and its seed (the objective is linear: Σ seed·A).
func objectives(a, seed *tensor.Tensor) []float64 {
	n := a.Shape[0]
	per := a.Len() / n
	out := make([]float64, n)
	for b := range n {
		s := 0.0
		for i := b * per; i < (b+1)*per; i++ {
			if seed.F32[i] != 0 {
				s += float64(seed.F32[i]) * float64(a.F32[i])
			}
		}
		out[b] = s
	}
	return out
}

// feed builds the model input from the rendered images and per-element
// transforms.
func (r *runner) feed(tf []affine) *tensor.Tensor {
	c := r.in.Channels
	x := tensor.New(tensor.Float32, len(r.params), r.oh, r.ow, c)
	n := r.oh * r.ow * c
	buf := make([]float64, n)
	span := r.rng.Hi - r.rng.Lo
	for b, p := range r.params {
		tf[b].apply(p.img, c, buf)
		dst := x.F32[b*n : (b+1)*n]
		for i, v := range buf {
			dst[i] = float32(r.rng.Lo + span*v)
		}
	}
	return x
}

// evaluate returns the objective per element on the untransformed images.
func (r *runner) evaluate(ctx context.Context) ([]float64, error) {
	tf := r.identity()
	out, err := r.eng.Run(ctx, map[string]*tensor.Tensor{r.in.Tensor: r.feed(tf)}, []string{r.layer})
	if err != nil {
		return nil, err
	}
	seed, err := r.seedFor(out[0])
	if err != nil {
		return nil, err
	}
	return objectives(out[0], seed), nil
}

func (r *runner) identity() []affine {
	tf := make([]affine, len(r.params))
	for b := range tf {
		tf[b] = identityAffine(r.s.Size, r.oh, r.ow, 0.5)
	}
	return tf
}

func (r *runner) run(ctx context.Context, progress func(step int)) ([]Unit, error) {
	start, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	for step := 1; step <= r.s.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.step(ctx, step); err != nil {
			return nil, err
		}
		progress(step)
	}
	final, err := r.evaluate(ctx)
	if err != nil {
		return nil, err
	}
	units := make([]Unit, len(r.params))
	for b, p := range r.params {
		px := make([]float32, len(p.img))
		for i, v := range p.img {
			px[i] = float32(v)
		}
		units[b] = Unit{Channel: r.channels[b], Pixels: px, Start: start[b], Final: final[b]}
	}
	return units, nil
}

// gradientsOf returns dL/dx on the batch x for the objective taken on the
// tensor target (the layer or its pre-activation).
func (r *runner) gradientsOf(ctx context.Context, x *tensor.Tensor, target string, relu engine.ReluMode) (*tensor.Tensor, error) {
	res, err := r.eng.Gradients(ctx, engine.GradRequest{
		Feeds:   map[string]*tensor.Tensor{r.in.Tensor: x},
		Targets: []string{target},
		Seed: func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
			sd, err := r.seedFor(v[target])
			if err != nil {
				return nil, err
			}
			return map[string]*tensor.Tensor{target: sd}, nil
		},
		Wrt:  []string{r.in.Tensor},
		Relu: relu,
	})
	if err != nil {
		return nil, err
	}
	g := res.Grads[r.in.Tensor]
	if g == nil || g.DType != tensor.Float32 || g.Len() != x.Len() {
		return nil, fmt.Errorf("engine returned no float32 gradient of shape %s for %s", tensor.ShapeString(x.Shape), r.in.Tensor)
	}
	return g, nil
}

func allZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// start builds each element's parameters and scratch buffers and returns
// the objective on the starting images.
func (r *runner) start(ctx context.Context) ([]float64, error) {
	s := r.s
	c := r.in.Channels
	for _, ch := range r.channels {
		rd := rand.New(rand.NewPCG(s.Seed, uint64(ch)))
		p := newParam(s.Size, c, s.fourier, s.decor, rd)
		p.render()
		r.params = append(r.params, p)
		r.rands = append(r.rands, rd)
		if s.optimizer == Adam {
			r.opts = append(r.opts, newAdam(len(p.theta), s.LR))
		}
	}
	reg := s.Regularizers
	var jit, sc, rot float64
	if reg&Jitter != 0 {
		jit = s.JitterPx
	}
	if reg&Scale != 0 {
		sc = s.ScaleAmount
	}
	if reg&Rotate != 0 {
		rot = s.RotateDeg
	}
	n := s.Size * s.Size * c
	gimg := make([]float64, n)
	gin := make([]float64, r.oh*r.ow*c)
	tmp := make([]float64, n)
	r.w = work{jit: jit, sc: sc, rot: rot, span: r.rng.Hi - r.rng.Lo, gimg: gimg, gin: gin, tmp: tmp}
	return r.evaluate(ctx)
}

// work holds one batch's per-step settings and scratch buffers.
type work struct {
	jit, sc, rot, span float64
	gimg, gtheta       []float64
	gin, tmp           []float64
}

// step does one ascent step on every element of the batch.
func (r *runner) step(ctx context.Context, step int) error {
	s, c, reg := r.s, r.in.Channels, r.s.Regularizers
	jit, sc, rot, span := r.w.jit, r.w.sc, r.w.rot, r.w.span
	gimg, gin, tmp := r.w.gimg, r.w.gin, r.w.tmp
	tf := make([]affine, len(r.params))
	for b, p := range r.params {
		tf[b] = randomAffine(r.rands[b], p.sz, r.oh, r.ow, 0.5, jit, sc, rot)
	}
	x := r.feed(tf)
	g, err := r.gradientsOf(ctx, x, r.layer, engine.ReluNormal)
	if err != nil {
		return fmt.Errorf("step %d: %w", step, err)
	}
	m := r.oh * r.ow * c
	// A unit that is dead on the current image has a zero gradient
	// and would never move: see Layer.PreActivation.
	var dead []int
	for b := range r.params {
		if allZero(g.F32[b*m : (b+1)*m]) {
			dead = append(dead, b)
		}
	}
	if len(dead) > 0 {
		var gd *tensor.Tensor
		if r.pre != "" {
			gd, err = r.gradientsOf(ctx, x, r.pre, engine.ReluNormal)
		} else {
			gd, err = r.gradientsOf(ctx, x, r.layer, engine.ReluDeconv)
		}
		if err != nil {
			return fmt.Errorf("step %d (deconvnet gradient for dead units): %w", step, err)
		}
		for _, b := range dead {
			copy(g.F32[b*m:(b+1)*m], gd.F32[b*m:(b+1)*m])
		}
	}
	for b, p := range r.params {
		for i, v := range g.F32[b*m : (b+1)*m] {
			gin[i] = float64(v) * span
		}
		clear(gimg)
		tf[b].applyT(gin, c, gimg)
		if reg&TV != 0 {
			totalVariation(p.img, s.Size, c, s.TVWeight, gimg)
		}
		if reg&L2 != 0 {
			l2Penalty(p.img, s.L2Weight, gimg)
		}
		if len(r.w.gtheta) != len(p.theta) {
			r.w.gtheta = make([]float64, len(p.theta))
		}
		gtheta := r.w.gtheta
		p.backward(gimg, gtheta)
		if s.optimizer == Adam {
			r.opts[b].ascend(p.theta, gtheta)
		} else {
			normalizedAscend(p.theta, gtheta, s.LR)
		}
		if reg&Blur != 0 && step%s.BlurEvery == 0 {
			p.blur(s.BlurSigma, tmp)
		}
		p.project()
		p.render()
	}
	return nil
}
