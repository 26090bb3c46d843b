package tfmodel_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/savedmodel"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// sharedModel holds the facts MANIFEST.md gives for one shared model.
type sharedModel struct {
	name     string
	format   string
	tf       string
	input    string // graph tensor name of the serving_default input
	inShape  []int
	output   string
	outShape []int
	vars     int // variable handles on the serving path
	params   int
	gradCAM  []string
	softmax  bool
}

var sharedModels = []sharedModel{
	{"tm-mobilenetv2-eyes-tf115", "tf1-savedmodel", "1.15.0-rc3", "sequential_5_input:0", []int{-1, 224, 224, 3}, "sequential_7/dense_Dense4/Softmax:0", []int{-1, 2}, 263, 538508,
		[]string{"sequential_5/model2/out_relu/Relu6", "sequential_5/global_average_pooling2d_GlobalAveragePooling2D2/Mean"}, true},
	{"potato-disease-tf25", "tf2-keras-savedmodel", "2.5.0", "serving_default_sequential_input:0", []int{-1, 256, 256, 3}, "StatefulPartitionedCall:0", []int{-1, 3}, 16, 183747,
		[]string{"sequential_5/conv2d_23/Relu"}, true},
	{"cifar10-logits-tf28", "tf2-keras-savedmodel", "2.8.0", "serving_default_conv2d_input:0", []int{-1, 32, 32, 3}, "StatefulPartitionedCall:0", []int{-1, 10}, 10, 122570,
		[]string{"sequential/conv2d_2/Relu"}, false},
	{"mnist-seq-bn-tf210", "tf2-keras-savedmodel", "2.10.0", "serving_default_conv2d_input:0", []int{-1, 28, 28, 1}, "StatefulPartitionedCall:0", []int{-1, 10}, 22, 131530,
		[]string{"sequential/conv2d_2/Relu", "sequential/batch_normalization_2/FusedBatchNormV3"}, true},
	{"fashion-mnist-functional-bn-tf25", "tf2-keras-savedmodel", "2.5.0", "serving_default_input_1:0", []int{-1, 28, 28, 1}, "StatefulPartitionedCall:0", []int{-1, 10}, 28, 315598,
		[]string{"model/conv2d_3/Relu"}, true},
	{"mnist-keras3-export-tf220", "keras3-export", "2.20.0", "serving_default_keras_tensor:0", []int{-1, 28, 28, 1}, "StatefulPartitionedCall_1:0", []int{-1, 10}, 8, 179926,
		[]string{"sequential_1/conv2d_1_2/Relu"}, true},
}

func TestLoadSharedModels(t *testing.T) {
	root := testenv.SharedModels(t)
	for _, sm := range sharedModels {
		t.Run(sm.name, func(t *testing.T) {
			m, err := tfmodel.Load(filepath.Join(root, sm.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Format != sm.format || m.TFVersion != sm.tf {
				t.Errorf("format %q, TF %q; want %q, %q", m.Format, m.TFVersion, sm.format, sm.tf)
			}
			if m.Signature.Name != "serving_default" || len(m.Signature.Inputs) != 1 || len(m.Signature.Outputs) != 1 {
				t.Fatalf("signature %+v", m.Signature)
			}
			in, out := m.Signature.Inputs[0], m.Signature.Outputs[0]
			if in.Tensor != sm.input || !slices.Equal(in.Shape, sm.inShape) || in.DType != tensor.Float32 {
				t.Errorf("input %+v, want %s %v float32", in, sm.input, sm.inShape)
			}
			if out.Tensor != sm.output || !slices.Equal(out.Shape, sm.outShape) || out.DType != tensor.Float32 {
				t.Errorf("output %+v, want %s %v float32", out, sm.output, sm.outShape)
			}
			for _, name := range []string{in.Tensor, out.Tensor} {
				if _, err := m.Graph.Resolve(name); err != nil {
					t.Errorf("signature tensor %s: %v", name, err)
				}
			}
			if n := m.Graph.Node(strings.TrimSuffix(in.Tensor, ":0")); n == nil || n.Op != "Placeholder" || len(n.Inputs) != 0 {
				t.Errorf("input node %v is not a Placeholder", n)
			}
			if len(m.Variables) != sm.vars {
				t.Errorf("%d bound variables, want %d", len(m.Variables), sm.vars)
			}
			if p := m.NumParams(); p != sm.params {
				t.Errorf("%d parameters, want %d", p, sm.params)
			}
			for _, name := range sm.gradCAM {
				if _, err := m.Graph.Resolve(name); err != nil {
					t.Errorf("Grad-CAM target: %v", err)
				}
			}
			handles := 0
			for _, n := range m.Graph.Nodes {
				switch n.Op {
				case "VarHandleOp":
					handles++
					if n.Value == nil || !strings.Contains(n.VarKey, "/") || n.VarKey == n.Name {
						t.Errorf("handle %s not bound (key %q)", n.Name, n.VarKey)
					}
				case "Const":
					if n.Value == nil {
						t.Errorf("Const %s has no value", n.Name)
					}
				case "StatefulPartitionedCall", "PartitionedCall":
					t.Errorf("call %s was not inlined", n.Name)
				case "FusedBatchNormV3":
					if b, err := n.AttrBool("is_training"); err != nil || b {
						t.Errorf("%s: is_training %v %v, want false", n.Name, b, err)
					}
				case "Conv2D":
					if f, err := n.AttrString("data_format"); err != nil || f != "NHWC" {
						t.Errorf("%s: data_format %q %v", n.Name, f, err)
					}
				}
			}
			if handles != sm.vars {
				t.Errorf("%d VarHandleOp nodes, want %d", handles, sm.vars)
			}
			if sm.name == "tm-mobilenetv2-eyes-tf115" && (len(m.Graph.Nodes) < 600 || len(m.Graph.Nodes) > 700) {
				t.Errorf("TF1 graph pruned to %d nodes, want the ~693 serving nodes (of 4,570)", len(m.Graph.Nodes))
			}
		})
	}
}

// TestVariableValues checks bound values against the checkpoint keys the
// reports list (an independent mapping from savedmodel-inspect).
func TestVariableValues(t *testing.T) {
	root := testenv.SharedModels(t)
	m, err := tfmodel.Load(filepath.Join(root, "potato-disease-tf25"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Graph.Node("conv2d_18/kernel")
	if n == nil || n.VarKey != "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE" || !slices.Equal(n.Value.Shape, []int{3, 3, 3, 32}) {
		t.Fatalf("conv2d_18/kernel = %+v", n)
	}
	m3, err := tfmodel.Load(filepath.Join(root, "mnist-keras3-export-tf220"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m3.Variables {
		if !strings.HasPrefix(v.Key, "_all_variables/") {
			t.Errorf("Keras 3 serving variable %s maps to %s, want an _all_variables/N key", v.Node, v.Key)
		}
	}
}

func TestSignatures(t *testing.T) {
	root := testenv.SharedModels(t)
	dir := filepath.Join(root, "mnist-keras3-export-tf220")
	m, err := tfmodel.Load(dir, &tfmodel.LoadOptions{Signature: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Signatures {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"__saved_model_init_op", "serve", "serving_default"}) {
		t.Errorf("signatures %v", names)
	}
	if m.Signature.Inputs[0].Tensor != "serve_keras_tensor:0" || m.Signature.Outputs[0].Tensor != "StatefulPartitionedCall:0" {
		t.Errorf("serve signature %+v", m.Signature)
	}
	if m.Graph.Node("serving_default_keras_tensor") != nil {
		t.Error("the other signature's input is in the graph")
	}
	if m.Graph.Node("sequential_1/conv2d_1_2/Relu") == nil {
		t.Error("Grad-CAM target missing under the serve signature")
	}

	m, err = tfmodel.Load(dir, &tfmodel.LoadOptions{ExtraOutputs: []string{"serve_keras_tensor:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Signature.Name != "serving_default" || m.Graph.Node("serve_keras_tensor") == nil {
		t.Error("ExtraOutputs not kept")
	}
	if _, err := tfmodel.Load(dir, &tfmodel.LoadOptions{ExtraOutputs: []string{"no_such_node"}}); err == nil || !strings.Contains(err.Error(), "no_such_node") {
		t.Errorf("unknown extra output: %v", err)
	}

	_, err = tfmodel.Load(dir, &tfmodel.LoadOptions{Signature: "predict"})
	if err == nil || !strings.Contains(err.Error(), `"predict"`) || !strings.Contains(err.Error(), "serve, serving_default") {
		t.Errorf("wrong signature: %v", err)
	}
	_, err = tfmodel.Load(dir, &tfmodel.LoadOptions{Tags: []string{"train"}})
	if err == nil || !strings.Contains(err.Error(), "[train]") || !strings.Contains(err.Error(), "[serve]") {
		t.Errorf("wrong tags: %v", err)
	}
}

// copyModel copies a shared model into a temporary directory.
func copyModel(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestBrokenModels(t *testing.T) {
	root := testenv.SharedModels(t)
	src := filepath.Join(root, "cifar10-logits-tf28")

	t.Run("truncated", func(t *testing.T) {
		dir := copyModel(t, src)
		pb := filepath.Join(dir, "saved_model.pb")
		b, _ := os.ReadFile(pb)
		for _, n := range []int{0, 1, 100, len(b) / 2, len(b) - 3} {
			if err := os.WriteFile(pb, b[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := tfmodel.Load(dir, nil)
			if err == nil || !strings.Contains(err.Error(), "saved_model.pb") {
				t.Errorf("truncated to %d bytes: %v", n, err)
			}
		}
	})
	t.Run("missing variables", func(t *testing.T) {
		dir := copyModel(t, src)
		if err := os.RemoveAll(filepath.Join(dir, "variables")); err != nil {
			t.Fatal(err)
		}
		_, err := tfmodel.Load(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "variables.index") || !strings.Contains(err.Error(), "missing") {
			t.Errorf("missing variables: %v", err)
		}
	})
	t.Run("corrupt data shard", func(t *testing.T) {
		dir := copyModel(t, src)
		shard := filepath.Join(dir, "variables", "variables.data-00000-of-00001")
		b, _ := os.ReadFile(shard)
		for i := 1000; i < 1100 && i < len(b); i++ {
			b[i] ^= 0xff
		}
		os.WriteFile(shard, b, 0o644)
		_, err := tfmodel.Load(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("corrupt shard: %v", err)
		}
	})
	t.Run("not a model", func(t *testing.T) {
		_, err := tfmodel.Load(t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "saved_model.pb") || !strings.Contains(err.Error(), "model.json") {
			t.Errorf("empty dir: %v", err)
		}
		_, err = tfmodel.Load(filepath.Join(t.TempDir(), "nope"), nil)
		if err == nil {
			t.Error("missing dir: no error")
		}
	})
}

// TestPbtxtRoundTrip writes a real SavedModel as prototext and checks that
// loading it gives the same graph.
func TestPbtxtRoundTrip(t *testing.T) {
	root := testenv.SharedModels(t)
	src := filepath.Join(root, "mnist-seq-bn-tf210")
	want, err := tfmodel.Load(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := savedmodel.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := prototext.Marshal(sm.Proto)
	if err != nil {
		t.Fatal(err)
	}
	dir := copyModel(t, src)
	os.Remove(filepath.Join(dir, "saved_model.pb"))
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pbtxt"), txt, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := tfmodel.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Graph.Nodes) != len(want.Graph.Nodes) {
		t.Fatalf("pbtxt graph has %d nodes, pb graph %d", len(got.Graph.Nodes), len(want.Graph.Nodes))
	}
	for i, n := range got.Graph.Nodes {
		w := want.Graph.Nodes[i]
		if n.Name != w.Name || n.Op != w.Op || len(n.Inputs) != len(w.Inputs) || n.VarKey != w.VarKey {
			t.Fatalf("node %d: %s, want %s", i, n, w)
		}
		for j := range n.Inputs {
			if n.Inputs[j].String() != w.Inputs[j].String() {
				t.Fatalf("node %s input %d: %s, want %s", n, j, n.Inputs[j], w.Inputs[j])
			}
		}
		if (n.Value == nil) != (w.Value == nil) || (n.Value != nil && !slices.Equal(n.Value.Float64s(), w.Value.Float64s())) {
			t.Fatalf("node %s: values differ", n)
		}
	}
	if got.NumParams() != want.NumParams() || got.Signature.Outputs[0].Tensor != want.Signature.Outputs[0].Tensor {
		t.Error("pbtxt model differs")
	}
}

func TestLoadTFJS(t *testing.T) {
	dir := filepath.Join(testenv.GraphModels(t), "nsfwjs-mobilenetv2")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("nsfwjs graph-model not unpacked: %v", err)
	}
	m, err := tfmodel.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Format != tfmodel.FormatTFJS || len(m.Signature.Inputs) != 1 || len(m.Signature.Outputs) != 1 {
		t.Fatalf("TF.js model %+v", m.Signature)
	}
	for _, ti := range append(m.Signature.Inputs, m.Signature.Outputs...) {
		if _, err := m.Graph.Resolve(ti.Tensor); err != nil {
			t.Error(err)
		}
	}
	if _, err := tfmodel.Load(dir, &tfmodel.LoadOptions{Signature: "other"}); err == nil || !strings.Contains(err.Error(), "serving_default") {
		t.Errorf("wrong TF.js signature: %v", err)
	}
}

// BenchmarkLoad measures Load (parse, inline, prune, read variables) of the
// largest shared graph, the TF1 MobileNetV2 (4,570 nodes, 693 kept).
func BenchmarkLoad(b *testing.B) {
	dir := filepath.Join(testenv.SharedModels(b), "tm-mobilenetv2-eyes-tf115")
	for b.Loop() {
		if _, err := tfmodel.Load(dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}
