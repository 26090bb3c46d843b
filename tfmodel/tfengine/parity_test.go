//go:build tensorflow

package tfengine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/layers"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/tfmodel/tfengine"
	"github.com/tbviz/tbviz/vizhooks/cam"
)

// A test binary built with -tags tensorflow links libtensorflow
// dynamically: without the library it cannot start at all, which is why
// `make test-tensorflow` probes for libtensorflow.so first and prints an
// explicit SKIPPED line when it is missing.
func TestMain(m *testing.M) {
	fmt.Fprintf(os.Stderr, "tfengine tests: TensorFlow %s\n", tfengine.Version())
	if ds, err := tfengine.ListDevices(nil); err == nil {
		for _, d := range ds {
			fmt.Fprintf(os.Stderr, "  device %s\n", d)
		}
	}
	os.Exit(m.Run())
}

// checkClose applies the TF.js oracle tolerance: max abs diff ≤ 1e-4 ×
// max|ref|.
func checkClose(t *testing.T, what string, got, ref *tensor.Tensor) {
	t.Helper()
	d, r := maxAbsDiff(t, got, ref)
	if d > 1e-4*r {
		t.Errorf("%s: max abs diff %g > 1e-4 × max|ref| %g", what, d, r)
	}
}

// TestParitySharedModels compares the TensorFlow engine with the native
// engine on every shared SavedModel: the signature output, every spatial
// layer's activations, Grad-CAM maps and guided-backpropagation input
// gradients.
func TestParitySharedModels(t *testing.T) {
	root := testenv.SharedModels(t)
	es, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k, e := range es {
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			m, err := tfmodel.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			nat, err := native.New(m.Graph, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nat.Close()
			tfe, err := tfengine.New(m.Graph, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tfe.Close()
			in, _ := m.Input("")
			out, _ := m.Output("")
			x := randInput(in, uint64(k))
			x2 := tensor.New(tensor.Float32, append([]int{2}, x.Shape[1:]...)...)
			copy(x2.F32, x.F32)
			copy(x2.F32[len(x.F32):], randInput(in, uint64(k+100)).F32)

			spatial, err := layers.Spatial(ctx, nat, m.Graph, in.Tensor, x)
			if err != nil {
				t.Fatal(err)
			}
			fetches := []string{out.Tensor}
			for _, l := range spatial {
				fetches = append(fetches, l.Name)
			}
			feeds := map[string]*tensor.Tensor{in.Tensor: x2}
			want, err := nat.Run(ctx, feeds, fetches)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tfe.Run(ctx, feeds, fetches)
			if err != nil {
				t.Fatal(err)
			}
			for i := range fetches {
				checkClose(t, fetches[i], got[i], want[i])
			}

			target, err := layers.Suggest(m.Graph, spatial)
			if err != nil {
				t.Fatal(err)
			}
			score, err := layers.ScoreTensor(m.Graph, out.Tensor, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []cam.Method{cam.GradCAM{}, cam.GuidedBackprop{}, cam.Deconvnet{}} {
				maps := map[string]*tensor.Tensor{}
				for _, eng := range []engine.Engine{nat, tfe} {
					ci := &cam.Input{Engine: eng, Graph: m.Graph, InputName: in.Tensor, Images: x2,
						Layer: target.Name, Score: score, Classes: []int{0, 1}}
					mp, err := method.Compute(ctx, ci)
					if err != nil {
						t.Fatalf("%s on %s: %v", method.Name(), eng.Name(), err)
					}
					maps[eng.Name()] = mp
				}
				checkClose(t, method.Name()+" at "+target.Name, maps["tensorflow"], maps["native"])
			}
		})
	}
}

// TestEngineContract checks the engine.Engine behaviours the visualisation
// methods rely on, against the native engine: feeding an intermediate
// tensor, seeds that depend on the forward values, a wrt tensor the
// objective does not reach (zero gradient), errors naming bad tensors.
func TestEngineContract(t *testing.T) {
	dir := testenv.SharedModel(t, "cifar10-logits-tf28")
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	nat, err := native.New(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	tfe, err := tfengine.New(m.Graph, &tfengine.Options{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer tfe.Close()
	in, _ := m.Input("")
	out, _ := m.Output("")
	x := randInput(in, 5)
	const layer = "sequential/conv2d_2/Relu"
	act, err := nat.Run(ctx, map[string]*tensor.Tensor{in.Tensor: x}, []string{layer})
	if err != nil {
		t.Fatal(err)
	}
	top := func(v map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
		y := v[out.Tensor]
		s := tensor.NewLike(y)
		best := 0
		for i := range y.Len() {
			if y.Float(i) > y.Float(best) {
				best = i
			}
		}
		s.SetFloat(best, 1)
		return map[string]*tensor.Tensor{out.Tensor: s}, nil
	}
	for _, req := range []engine.GradRequest{
		{Feeds: map[string]*tensor.Tensor{in.Tensor: x}, Targets: []string{out.Tensor}, Seed: top, Wrt: []string{in.Tensor, layer}},
		{Feeds: map[string]*tensor.Tensor{layer: act[0]}, Targets: []string{out.Tensor}, Seed: top, Wrt: []string{layer}},
	} {
		a, err := nat.Gradients(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tfe.Gradients(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for name, g := range a.Grads {
			if b.Grads[name] == nil {
				t.Errorf("no gradient for %s", name)
				continue
			}
			checkClose(t, "gradient "+name, b.Grads[name], g)
		}
		checkClose(t, "value "+out.Tensor, b.Values[out.Tensor], a.Values[out.Tensor])
	}
	if _, err := tfe.Run(ctx, map[string]*tensor.Tensor{in.Tensor: x}, []string{"sequential/conv2d_2/Rel"}); err == nil {
		t.Error("unknown fetch: no error")
	}
}
