// Package tfjsoracle runs TensorFlow.js (@tensorflow/tfjs 4.22.0 on its cpu
// backend, float32) in node as a numerical oracle for tbviz's native engine:
// given a TF.js graph-model and an input, it returns the model's outputs and
// intermediate activations, input gradients computed with tf.grad, and
// gradients with respect to an intermediate node (by feeding that node).
//
// Tensors travel through temporary files as raw little-endian float32 with
// their shapes in JSON. The node script is oracle.js beside this file.
package tfjsoracle

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Oracle runs requests through node.
type Oracle struct {
	// Node is the node binary; NPMDir the node_modules directory holding
	// @tensorflow/tfjs.
	Node, NPMDir string
	// Timeout bounds one request (default 2 minutes).
	Timeout time.Duration
}

// New returns an Oracle using the node binary and npm packages that
// `make setup` installs, skipping the test when they are missing.
func New(t testing.TB) *Oracle {
	t.Helper()
	return &Oracle{Node: testenv.Node(t), NPMDir: testenv.NPMDir(t)}
}

// ModelPath returns the model.json of a graph-model by name: the
// directory .deps/graphmodels/<name> that `make graphmodels` unpacks
// (e.g. "nsfwjs-mobilenetv2", "human-emotion"), or, for "human-<m>", the
// file models/<m>.json as shipped in the @vladmandic/human npm package.
// The test is skipped when neither exists.
func ModelPath(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), ".deps", "graphmodels", name)
	if p := filepath.Join(dir, "model.json"); fileExists(p) {
		return p
	}
	npm := testenv.NPMDir(t)
	if m, ok := strings.CutPrefix(name, "human-"); ok {
		if p := filepath.Join(npm, "@vladmandic", "human", "models", m+".json"); fileExists(p) {
			return p
		}
	}
	testenv.GraphModels(t) // skips (or fails under CI) when nothing is unpacked
	t.Skipf("graph-model %s not found under %s", name, dir)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Request is one oracle query. Model and Input are required, and X must
// be a float32 tensor.
type Request struct {
	// Model is the path of the graph-model's model.json.
	Model string
	// Input is the name of the input node X is fed to.
	Input string
	X     *tensor.Tensor
	// RelaxInputShape makes every dimension of the input Placeholder
	// unknown, so X may have any size (for fully convolutional parts of a
	// model evaluated at a cheaper resolution).
	RelaxInputShape bool
	// Feeds are extra tensors fed with X for Fetch (intermediate nodes:
	// the graph is cut there), keyed by node name.
	Feeds map[string]*tensor.Tensor
	// Fetch lists node names ("node" or "node:i") whose values are
	// returned in Result.Values.
	Fetch []string
	// InputGrad, when set, asks for d(Σ seed·output)/dX.
	InputGrad *GradSpec
	// NodeGrad, when set, asks for d(Σ seed·output)/d(node value), where
	// the node is GradSpec.Node.
	NodeGrad *GradSpec
}

// GradSpec describes a scalar objective Σ Seed·Output.
type GradSpec struct {
	// Node is the tensor differentiated against (NodeGrad only).
	Node string
	// Output is the node whose value is seeded.
	Output string
	// Seed has the output's shape.
	Seed *tensor.Tensor
}

// Result is what the oracle computed (float32 tensors; integer outputs
// are converted).
type Result struct {
	// Values holds the fetched values by name.
	Values map[string]*tensor.Tensor
	// InputGrad is dL/dX for Request.InputGrad.
	InputGrad *tensor.Tensor
	// NodeValue and NodeGrad are the node's forward value and dL/d(node)
	// for Request.NodeGrad.
	NodeValue, NodeGrad *tensor.Tensor
	// Backend and Precision describe the TF.js backend that ran.
	Backend   string
	Precision int
}

type wireGrad struct {
	Node      string `json:"node,omitempty"`
	Output    string `json:"output"`
	SeedFile  string `json:"seedFile"`
	SeedShape []int  `json:"seedShape"`
}

type wireFeed struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Shape []int  `json:"shape"`
}

type wireRequest struct {
	Model      string     `json:"model"`
	Input      string     `json:"input"`
	InputFile  string     `json:"inputFile"`
	InputShape []int      `json:"inputShape"`
	Feeds      []wireFeed `json:"feeds,omitempty"`
	Fetch      []string   `json:"fetch,omitempty"`
	InputGrad  *wireGrad  `json:"inputGrad,omitempty"`
	NodeGrad   *wireGrad  `json:"nodeGrad,omitempty"`
	Relax      bool       `json:"relaxInputShape,omitempty"`
	OutDir     string     `json:"outDir"`
}

type wireResult struct {
	Results map[string]struct {
		Shape []int  `json:"shape"`
		DType string `json:"dtype"`
		File  string `json:"file"`
	} `json:"results"`
	Backend   string `json:"backend"`
	Precision int    `json:"precision"`
}

// ScriptPath returns the path of oracle.js.
func ScriptPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "oracle.js")
}

// Run executes one request.
func (o *Oracle) Run(ctx context.Context, req Request) (*Result, error) {
	if req.Model == "" || req.Input == "" || req.X == nil {
		return nil, errors.New("tfjsoracle: Model, Input and X are required")
	}
	dir, err := os.MkdirTemp("", "tfjsoracle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	model, err := filepath.Abs(req.Model)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(model); err == nil && st.IsDir() {
		model = filepath.Join(model, "model.json")
	}
	w := wireRequest{Model: model, Input: req.Input, InputShape: req.X.Shape, Fetch: req.Fetch, OutDir: dir, Relax: req.RelaxInputShape}
	if w.InputShape == nil {
		w.InputShape = []int{}
	}
	w.InputFile = filepath.Join(dir, "x.in")
	if err := writeF32(w.InputFile, req.X); err != nil {
		return nil, fmt.Errorf("tfjsoracle: input: %w", err)
	}
	k := 0
	for name, t := range req.Feeds {
		f := wireFeed{Name: name, File: filepath.Join(dir, fmt.Sprintf("feed%d.in", k)), Shape: t.Shape}
		k++
		if f.Shape == nil {
			f.Shape = []int{}
		}
		if err := writeF32(f.File, t); err != nil {
			return nil, fmt.Errorf("tfjsoracle: feed %s: %w", name, err)
		}
		w.Feeds = append(w.Feeds, f)
	}
	mk := func(g *GradSpec, what string) (*wireGrad, error) {
		if g == nil {
			return nil, nil
		}
		if g.Seed == nil || g.Output == "" {
			return nil, fmt.Errorf("tfjsoracle: %s needs Output and Seed", what)
		}
		wg := &wireGrad{Node: g.Node, Output: g.Output, SeedShape: g.Seed.Shape, SeedFile: filepath.Join(dir, what+".seed")}
		if wg.SeedShape == nil {
			wg.SeedShape = []int{}
		}
		return wg, writeF32(wg.SeedFile, g.Seed)
	}
	if w.InputGrad, err = mk(req.InputGrad, "inputGrad"); err != nil {
		return nil, err
	}
	if w.NodeGrad, err = mk(req.NodeGrad, "nodeGrad"); err != nil {
		return nil, err
	}
	if req.NodeGrad != nil && req.NodeGrad.Node == "" {
		return nil, errors.New("tfjsoracle: NodeGrad needs Node")
	}
	reqPath := filepath.Join(dir, "request.json")
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(reqPath, b, 0o644); err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Node, ScriptPath(), o.NPMDir, reqPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tfjsoracle: node %s on %s: %w\n%s", filepath.Base(ScriptPath()), req.Model, err, tail(stderr.String(), 4000))
	}
	rb, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return nil, fmt.Errorf("tfjsoracle: %w", err)
	}
	var wr wireResult
	if err := json.Unmarshal(rb, &wr); err != nil {
		return nil, fmt.Errorf("tfjsoracle: result.json: %w", err)
	}
	res := &Result{Values: map[string]*tensor.Tensor{}, Backend: wr.Backend, Precision: wr.Precision}
	for name, r := range wr.Results {
		t, err := readF32(r.File, r.Shape)
		if err != nil {
			return nil, fmt.Errorf("tfjsoracle: %s: %w", name, err)
		}
		switch {
		case name == "inputGrad":
			res.InputGrad = t
		case name == "nodeGrad":
			res.NodeGrad = t
		case name == "nodeValue":
			res.NodeValue = t
		case len(name) > 6 && name[:6] == "value:":
			res.Values[name[6:]] = t
		}
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func writeF32(path string, t *tensor.Tensor) error {
	t32, err := t.Cast(tensor.Float32)
	if err != nil {
		return err
	}
	b := make([]byte, 4*len(t32.F32))
	for i, v := range t32.F32 {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o600)
}

func readF32(path string, shape []int) (*tensor.Tensor, error) {
	if err := tensor.CheckShape(shape); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	n := tensor.NumElements(shape)
	if len(b) != 4*n {
		return nil, fmt.Errorf("%s: %d bytes for shape %v", path, len(b), shape)
	}
	f := make([]float32, n)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return tensor.FromFloat32(f, shape...), nil
}

// MaxAbsDiff returns max |a−b| and max |b| over two tensors of the same
// shape (b is the reference), or an error when the shapes differ.
func MaxAbsDiff(a, b *tensor.Tensor) (diff, ref float64, err error) {
	if a.Len() != b.Len() || !tensor.SameShape(squeezeOnes(a.Shape), squeezeOnes(b.Shape)) {
		return 0, 0, fmt.Errorf("shapes %s and %s differ", tensor.ShapeString(a.Shape), tensor.ShapeString(b.Shape))
	}
	for i := range a.Len() {
		x, y := a.Float(i), b.Float(i)
		if math.IsNaN(x) != math.IsNaN(y) {
			return math.Inf(1), 0, nil
		}
		diff = max(diff, math.Abs(x-y))
		ref = max(ref, math.Abs(y))
	}
	return diff, ref, nil
}

func squeezeOnes(s []int) []int {
	var out []int
	for _, d := range s {
		if d != 1 {
			out = append(out, d)
		}
	}
	return out
}
