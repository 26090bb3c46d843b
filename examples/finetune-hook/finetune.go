package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/internal/datasets"
	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks"
	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// headMatMul is the MatMul of the shipped model's classifier head, the
// final Dense layer (64 features -> 10 logits).
const headMatMul = "sequential/dense_1/MatMul"

// side is the model's input size.
const side = 32

// config is one fine-tuning run.
type config struct {
	Logdir string  // TensorBoard logdir (required)
	Data   string  // Fashion-MNIST idx directory
	Steps  int     // SGD steps
	Every  int     // hook every N steps
	Batch  int     // items per step
	LR     float64 // SGD learning rate
	Eval   int     // held-out test items for the accuracy
	Probes int     // held-out items written as images and explained by the hook
	Pool   int     // training items the batches are drawn from
	// TrainSplit is the split the pool comes from: "train" (default) or
	// "test", whose items after the Eval and Probes ones are then used
	// (disjoint from them; quicker to read, for tests).
	TrainSplit string
	Methods    []string
	Seed       uint64
	Policy     vizhooks.Policy // hook queue policy
	Workdir    string          // where the shipped model is extracted ("" = a temp dir)
	Log        io.Writer
}

// result is what a run measured.
type result struct {
	AccBefore, AccAfter float64 // held-out accuracy of the re-initialised and the trained head
	LossFirst, LossLast float64 // mean training loss of the first and last 10% of steps
	HookSteps           []int64 // steps handed to the hook
	Dropped             int64
	HookTime, StepTime  time.Duration // total time in AfterStep, in the SGD steps
	Probes              []string
}

// head holds the classifier head's variable nodes.
type head struct {
	kernel, bias *graph.Node
	features     string // the tensor feeding the head
	input        string
	logits       string
}

func findHead(m *tfmodel.Model) (*head, error) {
	mm := m.Graph.Node(headMatMul)
	if mm == nil || mm.Op != "MatMul" || len(mm.Inputs) != 2 {
		return nil, fmt.Errorf("model %s: no MatMul %s (the classifier head)", m.Dir, headMatMul)
	}
	h := &head{kernel: varNode(mm.Inputs[1].Node), features: mm.Inputs[0].String()}
	for _, c := range m.Graph.Consumers()[mm.ID] {
		if c.Op == "BiasAdd" && len(c.Inputs) == 2 {
			h.bias = varNode(c.Inputs[1].Node)
		}
	}
	if h.kernel == nil || h.bias == nil {
		return nil, fmt.Errorf("model %s: the head %s does not read a kernel and a bias variable", m.Dir, headMatMul)
	}
	in, ok1 := m.Input("")
	out, ok2 := m.Output("")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("model %s: want one input and one output", m.Dir)
	}
	h.input, h.logits = in.Tensor, out.Tensor
	return h, nil
}

// varNode follows ReadVariableOp and Identity nodes to a bound variable.
func varNode(n *graph.Node) *graph.Node {
	for n != nil && n.Value == nil && (n.Op == "ReadVariableOp" || n.Op == "Identity") && len(n.Inputs) == 1 {
		n = n.Inputs[0].Node
	}
	if n == nil || n.VarKey == "" || n.Value == nil || n.Value.DType != tensor.Float32 {
		return nil
	}
	return n
}

// toInput converts Fashion-MNIST items idx (28x28 gray bytes) to a
// [len(idx), 32, 32, 3] batch in [0, 1]: half-pixel bilinear resize,
// gray copied to the three channels.
func toInput(images []uint8, idx []int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, len(idx), side, side, 3)
	src := make([]float32, 28*28)
	var dst []float32
	for b, i := range idx {
		for p := range src {
			src[p] = float32(images[i*784+p]) / 255
		}
		dst = render.ResizeBilinear(src, 28, 28, 1, side, side, dst)
		o := x.F32[b*side*side*3:]
		for p, v := range dst {
			o[3*p], o[3*p+1], o[3*p+2] = v, v, v
		}
	}
	return x
}

// writeProbe writes the model's view of one item as a 32x32 PNG.
func writeProbe(path string, x *tensor.Tensor, b int) error {
	img := image.NewGray(image.Rect(0, 0, side, side))
	for p := range side * side {
		img.Pix[p] = uint8(math.Round(float64(x.F32[(b*side*side+p)*3]) * 255))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// softmaxGrad returns the mean cross-entropy of logits [B, K] against
// labels and its gradient with respect to the logits, (softmax - onehot)/B.
func softmaxGrad(logits *tensor.Tensor, labels []int) (float64, *tensor.Tensor) {
	bsz, k := logits.Shape[0], logits.Shape[1]
	g := tensor.New(tensor.Float32, bsz, k)
	loss := 0.0
	for b := range bsz {
		row := logits.F32[b*k : (b+1)*k]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		for c, v := range row {
			p := math.Exp(float64(v)-mx) / sum
			if c == labels[b] {
				loss -= math.Log(p)
				p--
			}
			g.F32[b*k+c] = float32(p / float64(bsz))
		}
	}
	return loss / float64(bsz), g
}

func argmaxRows(t *tensor.Tensor) []int {
	n, k := t.Shape[0], t.Shape[1]
	out := make([]int, n)
	for i := range n {
		for c := 1; c < k; c++ {
			if t.F32[i*k+c] > t.F32[i*k+out[i]] {
				out[i] = c
			}
		}
	}
	return out
}

// features returns the head's input features [len(idx), F] of items idx.
func features(ctx context.Context, eng engine.Engine, h *head, images []uint8, idx []int) (*tensor.Tensor, error) {
	var out *tensor.Tensor
	for lo := 0; lo < len(idx); lo += 100 {
		part := idx[lo:min(lo+100, len(idx))]
		r, err := eng.Run(ctx, map[string]*tensor.Tensor{h.input: toInput(images, part)}, []string{h.features})
		if err != nil {
			return nil, fmt.Errorf("finetune: features: %w", err)
		}
		f := r[0]
		if out == nil {
			out = tensor.New(tensor.Float32, len(idx), f.Shape[1])
		}
		copy(out.F32[lo*f.Shape[1]:], f.F32)
	}
	return out, nil
}

// accuracy evaluates the current weights on held-out items.
func accuracy(ctx context.Context, eng engine.Engine, h *head, images []uint8, labels []uint8, idx []int) (float64, error) {
	right := 0
	for lo := 0; lo < len(idx); lo += 100 {
		part := idx[lo:min(lo+100, len(idx))]
		out, err := eng.Run(ctx, map[string]*tensor.Tensor{h.input: toInput(images, part)}, []string{h.logits})
		if err != nil {
			return 0, err
		}
		for b, c := range argmaxRows(out[0]) {
			if c == int(labels[part[b]]) {
				right++
			}
		}
	}
	return float64(right) / float64(len(idx)), nil
}

// headGrads runs one forward and backward pass and returns the mean
// cross-entropy and the engine's gradients with respect to the head's
// kernel and bias, asked for through the variables' nodes. feed is either
// the model input (h.input, images) or the head's input (h.features),
// which cuts the graph there.
func headGrads(ctx context.Context, eng engine.Engine, h *head, feed string, x *tensor.Tensor, y []int) (float64, map[string]*tensor.Tensor, error) {
	var loss float64
	res, err := eng.Gradients(ctx, engine.GradRequest{
		Feeds:   map[string]*tensor.Tensor{feed: x},
		Targets: []string{h.logits},
		Seed: func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
			l, g := softmaxGrad(v[h.logits], y)
			loss = l
			return map[string]*tensor.Tensor{h.logits: g}, nil
		},
		Wrt: []string{h.kernel.Name, h.bias.Name},
	})
	if err != nil {
		return 0, nil, err
	}
	return loss, res.Grads, nil
}

// sgdStep updates the head in the graph by one SGD step on a batch of
// head-input features.
func sgdStep(ctx context.Context, eng engine.Engine, h *head, feats *tensor.Tensor, y []int, lr float64) (float64, error) {
	loss, grads, err := headGrads(ctx, eng, h, h.features, feats, y)
	if err != nil {
		return 0, err
	}
	for _, n := range []*graph.Node{h.kernel, h.bias} {
		g := grads[n.Name]
		next := n.Value.Clone() // replace, never write into, a bound value
		for i := range next.F32 {
			next.F32[i] -= float32(lr) * g.F32[i]
		}
		n.Value = next
	}
	return loss, nil
}

// reinit replaces the head with Glorot-uniform weights and a zero bias.
func reinit(h *head, rng *rand.Rand) {
	k := tensor.NewLike(h.kernel.Value)
	fanIn, fanOut := k.Shape[0], k.Shape[1]
	lim := math.Sqrt(6 / float64(fanIn+fanOut))
	for i := range k.F32 {
		k.F32[i] = float32((2*rng.Float64() - 1) * lim)
	}
	h.kernel.Value = k
	h.bias.Value = tensor.NewLike(h.bias.Value)
}

// finetune re-trains the head of the shipped CIFAR-10 model on
// Fashion-MNIST and calls the hook every cfg.Every steps.
func finetune(ctx context.Context, cfg config) (*result, error) {
	if cfg.Logdir == "" {
		return nil, errors.New("finetune: no logdir")
	}
	if cfg.Steps <= 0 || cfg.Every <= 0 || cfg.Batch <= 0 || cfg.Eval <= 0 || cfg.Probes <= 0 || cfg.Pool <= 0 || cfg.LR <= 0 {
		return nil, fmt.Errorf("finetune: steps %d, every %d, batch %d, eval %d, probes %d, pool %d and lr %g must be positive",
			cfg.Steps, cfg.Every, cfg.Batch, cfg.Eval, cfg.Probes, cfg.Pool, cfg.LR)
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	testX, testY, err := datasets.FashionMNIST(cfg.Data, "test")
	if err != nil {
		return nil, err
	}
	if cfg.Eval+cfg.Probes > len(testY) {
		return nil, fmt.Errorf("finetune: %d eval and %d probe items, the test split has %d", cfg.Eval, cfg.Probes, len(testY))
	}
	var trainX, trainY []uint8
	switch cfg.TrainSplit {
	case "", "train":
		if trainX, trainY, err = datasets.FashionMNIST(cfg.Data, "train"); err != nil {
			return nil, err
		}
	case "test":
		held := (cfg.Eval + cfg.Probes)
		trainX, trainY = testX[held*784:], testY[held:]
	default:
		return nil, fmt.Errorf("finetune: TrainSplit %q, want \"train\" or \"test\"", cfg.TrainSplit)
	}
	if cfg.Pool > len(trainY) {
		return nil, fmt.Errorf("finetune: pool of %d items, the train split has %d", cfg.Pool, len(trainY))
	}
	work := cfg.Workdir
	if work == "" {
		if work, err = os.MkdirTemp("", "finetune-hook"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	modelDir, _, _, err := cifar10.Extract(work)
	if err != nil {
		return nil, err
	}
	m, err := tfmodel.Load(modelDir, nil)
	if err != nil {
		return nil, err
	}
	h, err := findHead(m)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	reinit(h, rng)
	eng, err := native.New(m.Graph, nil)
	if err != nil {
		return nil, err
	}
	defer eng.Close()

	// Held-out items: the first Eval of the test split for the accuracy,
	// the next Probes written as images for the hook.
	evalIdx := make([]int, cfg.Eval)
	for i := range evalIdx {
		evalIdx[i] = i
	}
	res := &result{}
	probeIdx := make([]int, cfg.Probes)
	for i := range probeIdx {
		probeIdx[i] = cfg.Eval + i
	}
	probeX := toInput(testX, probeIdx)
	probeDir := filepath.Join(cfg.Logdir, "probes")
	if err := os.MkdirAll(probeDir, 0o755); err != nil {
		return nil, err
	}
	for b, i := range probeIdx {
		p := filepath.Join(probeDir, fmt.Sprintf("test%05d_%s.png", i, shortName(int(testY[i]))))
		if err := writeProbe(p, probeX, b); err != nil {
			return nil, fmt.Errorf("finetune: write %s: %w", p, err)
		}
		res.Probes = append(res.Probes, p)
	}

	if res.AccBefore, err = accuracy(ctx, eng, h, testX, testY, evalIdx); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Log, "held-out accuracy of the re-initialised head: %.3f\n", res.AccBefore)

	// The backbone is frozen, so the head's input features of the training
	// pool are computed once; each SGD step feeds a batch of them to the
	// head (feeding h.features cuts the graph there).
	pool := rng.Perm(len(trainY))[:cfg.Pool]
	feats, err := features(ctx, eng, h, trainX, pool)
	if err != nil {
		return nil, err
	}
	nf := feats.Shape[1]

	w, err := tbwriter.NewWriter(cfg.Logdir, nil)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	hook, err := vizhooks.NewHook(vizhooks.HookConfig{
		Writer: w,
		Images: res.Probes,
		Every:  int64(cfg.Every),
		Explain: explain.Config{
			Methods: cfg.Methods,
			Top1:    true,
			Labels:  datasets.FashionMNISTClasses[:],
		},
		QueueSize: 2,
		Policy:    cfg.Policy,
	})
	if err != nil {
		return nil, err
	}
	defer hook.Close()

	first, last := max(cfg.Steps/10, 1), max(cfg.Steps/10, 1)
	var lossSum float64
	y := make([]int, cfg.Batch)
	for step := range cfg.Steps {
		fb := tensor.New(tensor.Float32, cfg.Batch, nf)
		for b := range y {
			i := rng.IntN(cfg.Pool)
			copy(fb.F32[b*nf:(b+1)*nf], feats.F32[i*nf:(i+1)*nf])
			y[b] = int(trainY[pool[i]])
		}
		t0 := time.Now()
		loss, err := sgdStep(ctx, eng, h, fb, y, cfg.LR)
		if err != nil {
			return nil, fmt.Errorf("finetune: step %d: %w", step, err)
		}
		res.StepTime += time.Since(t0)
		if step < first {
			res.LossFirst += loss / float64(first)
		}
		if step >= cfg.Steps-last {
			res.LossLast += loss / float64(last)
		}
		lossSum += loss
		if (step+1)%cfg.Every == 0 || step == cfg.Steps-1 {
			if err := w.Scalar("train/loss", int64(step+1), lossSum/float64(step%cfg.Every+1)); err != nil {
				return nil, err
			}
			lossSum = 0
		}
		// The hook sees the model after step+1 updates.
		t1 := time.Now()
		if err := hook.AfterStep(ctx, int64(step+1), m); err != nil {
			return nil, err
		}
		res.HookTime += time.Since(t1)
		if int64(step+1)%int64(cfg.Every) == 0 {
			res.HookSteps = append(res.HookSteps, int64(step+1))
			fmt.Fprintf(cfg.Log, "step %d: loss %.3f\n", step+1, loss)
		}
	}
	if res.AccAfter, err = accuracy(ctx, eng, h, testX, testY, evalIdx); err != nil {
		return nil, err
	}
	if err := w.Scalar("eval/accuracy", int64(cfg.Steps), res.AccAfter); err != nil {
		return nil, err
	}
	if err := hook.Close(); err != nil {
		return nil, err
	}
	res.Dropped = hook.Dropped()
	if err := w.Close(); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Log, "held-out accuracy after %d steps: %.3f (%d items); hook: %d steps visualised, %d dropped, %v in AfterStep vs %v in SGD\n",
		cfg.Steps, res.AccAfter, cfg.Eval, hook.Processed(), res.Dropped, res.HookTime.Round(time.Microsecond), res.StepTime.Round(time.Microsecond))
	return res, nil
}

// shortName is a file-name-safe Fashion-MNIST class name.
func shortName(c int) string {
	b := []byte(datasets.FashionMNISTClasses[c])
	for i, ch := range b {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}
