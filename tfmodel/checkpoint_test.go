package tfmodel_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/bundle"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

const varSuffix = "/.ATTRIBUTES/VARIABLE_VALUE"

// embeddedModel loads the embedded MIT CIFAR-10 example (always present).
func embeddedModel(t *testing.T) *tfmodel.Model {
	t.Helper()
	m, err := tfmodel.Load(filepath.Join(testenv.RepoRoot(), "examples", "cifar10", "model"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// varValues returns each variable's bound value by checkpoint key.
func varValues(m *tfmodel.Model) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, n := range m.Graph.Nodes {
		if n.VarKey != "" && n.Value != nil {
			out[n.VarKey] = n.Value
		}
	}
	return out
}

// trainingCheckpoint writes what tf.train.CheckpointManager would write for
// tf.train.Checkpoint(model=m, optimizer=adam): the variables under root,
// Adam slots for each, the optimizer's iteration count, save_counter and
// an object graph entry. edit may replace values before writing.
func trainingCheckpoint(t *testing.T, m *tfmodel.Model, prefix, root string, edit func(key string, v *tensor.Tensor) *tensor.Tensor) {
	t.Helper()
	ts := map[string]*tensor.Tensor{
		"save_counter" + varSuffix:   {DType: tensor.Int64, Shape: []int{}, I64: []int64{3}},
		"optimizer/iter" + varSuffix: {DType: tensor.Int64, Shape: []int{}, I64: []int64{1200}},
		bundle.ObjectGraphKey:        {DType: tensor.String, Shape: []int{}, Str: [][]byte{[]byte("not decoded by LoadCheckpoint")}},
	}
	for k, v := range varValues(m) {
		if edit != nil {
			v = edit(k, v)
		}
		if v == nil {
			continue
		}
		ts[root+k] = v
		base := strings.TrimSuffix(k, varSuffix)
		for _, slot := range []string{"m", "v"} {
			ts[root+base+"/.OPTIMIZER_SLOT/optimizer/"+slot+varSuffix] = tensor.NewLike(v)
		}
	}
	if err := bundle.Write(prefix, ts); err != nil {
		t.Fatal(err)
	}
}

func randomImages(n int) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(tensor.Float32, n, 32, 32, 3)
	for i := range x.F32 {
		x.F32[i] = rng.Float32()
	}
	return x
}

func sameBits(a, b *tensor.Tensor) bool {
	if !tensor.SameShape(a.Shape, b.Shape) || len(a.F32) != len(b.F32) {
		return false
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	return true
}

// lastBias returns the key of the output layer's bias (shape [10]).
func lastBias(t *testing.T, m *tfmodel.Model) string {
	t.Helper()
	var key string
	for _, v := range m.Variables {
		if len(v.Shape) == 1 && v.Shape[0] == 10 && strings.Contains(v.Key, "/bias") {
			key = v.Key
		}
	}
	if key == "" {
		t.Fatalf("no [10] bias among %v", m.Variables)
	}
	return key
}

func TestLoadCheckpointTrainingLayout(t *testing.T) {
	m := embeddedModel(t)
	x := randomImages(3)
	want := run(t, m, x)

	prefix := filepath.Join(t.TempDir(), "ckpt-3")
	trainingCheckpoint(t, m, prefix, "model/", nil)
	m2, err := tfmodel.LoadCheckpoint(m, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Graph == m.Graph || len(m2.Variables) != len(m.Variables) {
		t.Fatalf("LoadCheckpoint returned the same graph or different variables")
	}
	if got := run(t, m2, x); !sameBits(got, want) {
		t.Errorf("same weights under model/: predictions %v, want %v", got.F32[:10], want.F32[:10])
	}
	if last := m2.Notes[len(m2.Notes)-1]; !strings.Contains(last, prefix) || !strings.Contains(last, `"model/"`) {
		t.Errorf("note %q does not say where the weights came from", last)
	}

	// Perturbed weights: adding delta to the output bias shifts every
	// logit by exactly delta (an oracle independent of the loader), and the
	// original model keeps its weights.
	bias := lastBias(t, m)
	delta := []float32{1, -2, 0.5, 0, 3, -1, 0.25, 2, -0.5, 4}
	p2 := filepath.Join(t.TempDir(), "ckpt-4")
	trainingCheckpoint(t, m, p2, "model/", func(k string, v *tensor.Tensor) *tensor.Tensor {
		if k != bias {
			return v
		}
		c := v.Clone()
		for i := range c.F32 {
			c.F32[i] += delta[i]
		}
		return c
	})
	m3, err := tfmodel.LoadCheckpoint(m, p2)
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, m3, x)
	for i := range got.F32 {
		if d := got.F32[i] - want.F32[i]; math.Abs(float64(d-delta[i%10])) > 1e-4 {
			t.Fatalf("logit %d moved by %v, want %v", i, d, delta[i%10])
		}
	}
	if again := run(t, m, x); !sameBits(again, want) {
		t.Errorf("LoadCheckpoint changed the original model's predictions")
	}

	// Zeroing the first convolution's kernel changes the predictions.
	p3 := filepath.Join(t.TempDir(), "ckpt-5")
	trainingCheckpoint(t, m, p3, "model/", func(k string, v *tensor.Tensor) *tensor.Tensor {
		if k == m.Variables[0].Key && v.Rank() == 4 {
			return tensor.NewLike(v)
		}
		return v
	})
	m4, err := tfmodel.LoadCheckpoint(m, p3)
	if err != nil {
		t.Fatal(err)
	}
	if sameBits(run(t, m4, x), want) {
		t.Errorf("zeroed kernel %q gives the same predictions", m.Variables[0].Key)
	}

	step, key, ok, err := tfmodel.CheckpointStep(prefix)
	if err != nil || !ok || step != 1200 || key != "optimizer/iter"+varSuffix {
		t.Errorf("CheckpointStep = %d, %q, %v, %v; want 1200 from optimizer/iter", step, key, ok, err)
	}
}

func TestLoadCheckpointSaveWeightsLayout(t *testing.T) {
	m := embeddedModel(t)
	x := randomImages(2)
	want := run(t, m, x)
	// model.save_weights(save_format="tf"): keys at the root, plus the
	// object graph.
	ts := map[string]*tensor.Tensor{bundle.ObjectGraphKey: {DType: tensor.String, Shape: []int{}, Str: [][]byte{nil}}}
	for k, v := range varValues(m) {
		ts[k] = v
	}
	prefix := filepath.Join(t.TempDir(), "weights")
	if err := bundle.Write(prefix, ts); err != nil {
		t.Fatal(err)
	}
	m2, err := tfmodel.LoadCheckpoint(m, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, m2, x); !sameBits(got, want) {
		t.Errorf("root-level weights: predictions differ")
	}
	if _, _, ok, err := tfmodel.CheckpointStep(prefix); ok || err != nil {
		t.Errorf("CheckpointStep on a bundle without counters: ok=%v err=%v", ok, err)
	}
	// The model's own variables/ directory is a checkpoint too.
	if _, err := tfmodel.LoadCheckpoint(m, filepath.Join(m.Dir, "variables", "variables")); err != nil {
		t.Error(err)
	}
}

// TestLoadCheckpointSharedModels re-binds every shared SavedModel from a
// copy of its variables written under "net/" and checks every variable
// node gets the same values.
func TestLoadCheckpointSharedModels(t *testing.T) {
	root := testenv.SharedModels(t)
	for _, sm := range sharedModels {
		t.Run(sm.name, func(t *testing.T) {
			m, err := tfmodel.Load(filepath.Join(root, sm.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			orig := varValues(m)
			ts := map[string]*tensor.Tensor{"save_counter" + varSuffix: {DType: tensor.Int64, Shape: []int{}, I64: []int64{1}}}
			for k, v := range orig {
				ts["net/"+k] = v
			}
			prefix := filepath.Join(t.TempDir(), "ckpt-1")
			if err := bundle.Write(prefix, ts); err != nil {
				t.Fatal(err)
			}
			m2, err := tfmodel.LoadCheckpoint(m, prefix)
			if err != nil {
				t.Fatal(err)
			}
			got := varValues(m2)
			if len(got) != len(orig) {
				t.Fatalf("%d variables, want %d", len(got), len(orig))
			}
			for k, v := range got {
				if v == orig[k] {
					t.Fatalf("%q: the re-bound value is the original tensor", k)
				}
				if !sameBits(v, orig[k]) && v.DType == tensor.Float32 {
					t.Fatalf("%q: values differ", k)
				}
			}
		})
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestLoadCheckpointErrors(t *testing.T) {
	m := embeddedModel(t)
	dir := t.TempDir()
	bias := lastBias(t, m)
	var biasNode string
	for _, v := range m.Variables {
		if v.Key == bias {
			biasNode = v.Node
		}
	}

	_, err := tfmodel.LoadCheckpoint(m, filepath.Join(dir, "nothing"))
	wantErr(t, err, filepath.Join(dir, "nothing")+".index")
	_, err = tfmodel.LoadCheckpoint(m, dir)
	wantErr(t, err, "is a directory", "checkpoint prefix")

	// Missing data shard.
	p := filepath.Join(dir, "nodata")
	trainingCheckpoint(t, m, p, "model/", nil)
	os.Remove(bundle.ShardPath(p, 0, 1))
	_, err = tfmodel.LoadCheckpoint(m, p)
	wantErr(t, err, "no data shard", bundle.ShardPath(p, 0, 1))

	// A variable absent: named with its node, the prefix tried and a close
	// key.
	p = filepath.Join(dir, "missing")
	trainingCheckpoint(t, m, p, "model/", func(k string, v *tensor.Tensor) *tensor.Tensor {
		if k == bias {
			return nil
		}
		return v
	})
	_, err = tfmodel.LoadCheckpoint(m, p)
	wantErr(t, err, "1 of the graph's 10 variables", biasNode, `"model/`+bias+`"`, `object-graph prefix "model/"`, "close keys")

	// Nothing matches at all.
	p = filepath.Join(dir, "other")
	if err := bundle.Write(p, map[string]*tensor.Tensor{"x" + varSuffix: tensor.FromFloat32([]float32{1}, 1)}); err != nil {
		t.Fatal(err)
	}
	_, err = tfmodel.LoadCheckpoint(m, p)
	wantErr(t, err, "10 of the graph's 10 variables", "tried the root", "1 checkpoint keys")

	// Shape and dtype mismatches name the variable and both shapes.
	p = filepath.Join(dir, "shape")
	trainingCheckpoint(t, m, p, "model/", func(k string, v *tensor.Tensor) *tensor.Tensor {
		if k == bias {
			return tensor.New(tensor.Float32, 11)
		}
		if k == m.Variables[0].Key {
			c, _ := v.Cast(tensor.Float64)
			return c
		}
		return v
	})
	_, err = tfmodel.LoadCheckpoint(m, p)
	wantErr(t, err, "2 variable(s) do not match", biasNode, "checkpoint has float32 (11,), the graph has float32 (10,)",
		m.Variables[0].Node, "checkpoint has float64")

	// Two full copies: "model/" is preferred; two unknown prefixes are
	// ambiguous.
	ts := map[string]*tensor.Tensor{}
	for k, v := range varValues(m) {
		ts["ema/"+k] = tensor.NewLike(v)
		ts["model/"+k] = v
	}
	p = filepath.Join(dir, "two")
	if err := bundle.Write(p, ts); err != nil {
		t.Fatal(err)
	}
	m2, err := tfmodel.LoadCheckpoint(m, p)
	if err != nil {
		t.Fatal(err)
	}
	if v := varValues(m2)[bias]; !sameBits(v, varValues(m)[bias]) {
		t.Errorf("with ema/ and model/ copies the ema/ one was loaded")
	}
	ts2 := map[string]*tensor.Tensor{}
	for k, v := range varValues(m) {
		ts2["a/"+k] = v
		ts2["b/"+k] = v
	}
	p = filepath.Join(dir, "ambiguous")
	if err := bundle.Write(p, ts2); err != nil {
		t.Fatal(err)
	}
	_, err = tfmodel.LoadCheckpoint(m, p)
	wantErr(t, err, "more than one object-graph prefix", `"a/", "b/"`)

	_, err = tfmodel.LoadCheckpoint(&tfmodel.Model{}, p)
	wantErr(t, err, "no model graph")
}

// TestLoadCheckpointLazy corrupts the bytes of an optimizer slot, which
// LoadCheckpoint must not read, and then of a variable, which it must
// report.
func TestLoadCheckpointLazy(t *testing.T) {
	m := embeddedModel(t)
	p := filepath.Join(t.TempDir(), "ckpt-1")
	trainingCheckpoint(t, m, p, "model/", nil)
	bias := lastBias(t, m)
	corrupt := func(key string) {
		r, err := bundle.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := r.Entry(key)
		r.Close()
		f, err := os.OpenFile(bundle.ShardPath(p, 0, 1), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0xde, 0xad}, e.Offset); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	corrupt("model/" + strings.TrimSuffix(bias, varSuffix) + "/.OPTIMIZER_SLOT/optimizer/m" + varSuffix)
	if _, err := tfmodel.LoadCheckpoint(m, p); err != nil {
		t.Fatalf("a corrupted optimizer slot stopped the load: %v", err)
	}
	corrupt("model/" + bias)
	_, err := tfmodel.LoadCheckpoint(m, p)
	wantErr(t, err, "checksum mismatch", "model/"+bias)
}

func TestCheckpointStep(t *testing.T) {
	dir := t.TempDir()
	i64 := func(v int64) *tensor.Tensor {
		return &tensor.Tensor{DType: tensor.Int64, Shape: []int{}, I64: []int64{v}}
	}
	cases := []struct {
		name    string
		ts      map[string]*tensor.Tensor
		step    int64
		key     string
		errPart string
	}{
		{"step-first", map[string]*tensor.Tensor{"step" + varSuffix: i64(7), "optimizer/iter" + varSuffix: i64(9), "save_counter" + varSuffix: i64(2)}, 7, "step" + varSuffix, ""},
		{"global-step", map[string]*tensor.Tensor{"global_step" + varSuffix: {DType: tensor.Int32, Shape: []int{}, I32: []int32{42}}, "save_counter" + varSuffix: i64(2)}, 42, "global_step" + varSuffix, ""},
		{"iter-before-counter", map[string]*tensor.Tensor{"optimizer/iter" + varSuffix: i64(900), "save_counter" + varSuffix: i64(2)}, 900, "optimizer/iter" + varSuffix, ""},
		{"save-counter", map[string]*tensor.Tensor{"save_counter" + varSuffix: i64(5)}, 5, "save_counter" + varSuffix, ""},
		{"float-step", map[string]*tensor.Tensor{"step" + varSuffix: tensor.FromFloat32([]float32{300}, 1)}, 300, "step" + varSuffix, ""},
		{"fractional", map[string]*tensor.Tensor{"step" + varSuffix: tensor.FromFloat32([]float32{1.5}, 1)}, 0, "", "not a whole number"},
		{"vector", map[string]*tensor.Tensor{"step" + varSuffix: tensor.FromInt32([]int32{1, 2}, 2)}, 0, "", "expected a scalar"},
		{"string", map[string]*tensor.Tensor{"step" + varSuffix: {DType: tensor.String, Shape: []int{}, Str: [][]byte{[]byte("1")}}}, 0, "", "expected an integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			if err := bundle.Write(p, c.ts); err != nil {
				t.Fatal(err)
			}
			step, key, ok, err := tfmodel.CheckpointStep(p)
			if c.errPart != "" {
				wantErr(t, err, c.errPart, p)
				return
			}
			if err != nil || !ok || step != c.step || key != c.key {
				t.Errorf("got %d, %q, %v, %v; want %d, %q", step, key, ok, err, c.step, c.key)
			}
		})
	}
	_, _, _, err := tfmodel.CheckpointStep(filepath.Join(dir, "absent"))
	wantErr(t, err, "absent.index")
}
