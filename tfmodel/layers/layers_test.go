package layers

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

func sample(h, w, c int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, 1, h, w, c)
	for i := range t.F32 {
		t.F32[i] = float32(i%7) / 7
	}
	return t
}

func spatialOf(t *testing.T, g *graph.Graph) []Layer {
	t.Helper()
	eng, err := native.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ls, err := Spatial(context.Background(), eng, g, "input_1", sample(8, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func names(ls []Layer) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Name+tensor.ShapeString(l.Shape))
	}
	return strings.Join(s, " ")
}

func TestSpatialListsLayerOutputs(t *testing.T) {
	g := kerasCNN(t, false, false)
	ls := spatialOf(t, g)
	want := "seq/conv2d/Relu(1, 8, 8, 2) seq/batch_normalization/FusedBatchNormV3(1, 8, 8, 2) " +
		"seq/max_pooling2d/MaxPool(1, 4, 4, 2) seq/conv2d_1/Relu(1, 4, 4, 3) seq/max_pooling2d_1/MaxPool(1, 2, 2, 3)"
	if got := names(ls); got != want {
		t.Fatalf("Spatial:\n got %s\nwant %s", got, want)
	}
	if ls[0].Scope != "seq/conv2d" || ls[0].Op != "Relu" {
		t.Errorf("first layer = %+v", ls[0])
	}
	// A bad sample is an error, not a panic.
	eng, _ := native.New(g, nil)
	if _, err := Spatial(context.Background(), eng, g, "input_1", tensor.New(tensor.Float32, 1, 8, 8, 3)); err == nil {
		t.Error("Spatial accepted a 3-channel sample for a 1-channel input")
	}
	if _, err := Spatial(context.Background(), eng, g, "input_1", tensor.New(tensor.Float32, 100, 8, 8, 1)); err == nil || !strings.Contains(err.Error(), "batch of 1 to 8") {
		t.Errorf("Spatial with batch 100: %v", err)
	}
	if _, err := Spatial(context.Background(), eng, g, "inputs", sample(8, 8, 1)); err == nil || !strings.Contains(err.Error(), "input_1") {
		t.Errorf("Spatial with a wrong input name: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	cases := []struct {
		bnLast, gap bool
		want        string
	}{
		{false, false, "seq/conv2d_1/Relu"}, // Relu → MaxPool → Flatten (potato-like)
		{true, false, "seq/conv2d_1/Relu"},  // Relu → BN → MaxPool → Flatten (mnist-seq-bn-like)
		{false, true, "seq/conv2d_1/Relu"},  // Relu → GAP (MobileNet-like)
		{true, true, "seq/conv2d_1/Relu"},
	}
	for _, c := range cases {
		g := kerasCNN(t, c.bnLast, c.gap)
		l, err := Suggest(g, spatialOf(t, g))
		if err != nil {
			t.Fatal(err)
		}
		if l.Name != c.want {
			t.Errorf("bnLast=%v gap=%v: Suggest = %s, want %s", c.bnLast, c.gap, l.Name, c.want)
		}
	}
	// Without a head in the graph, the last activation is suggested.
	ls := []Layer{{Name: "a/Relu", Op: "Relu"}, {Name: "b/MaxPool", Op: "MaxPool"}}
	if l, _ := Suggest(nil, ls); l.Name != "a/Relu" {
		t.Errorf("fallback = %s", l.Name)
	}
	if _, err := Suggest(nil, nil); err == nil {
		t.Error("Suggest with no spatial layer succeeded")
	}
}

func TestResolve(t *testing.T) {
	g := kerasCNN(t, true, false)
	ls := spatialOf(t, g)
	ok := map[string]string{
		"seq/conv2d_1/Relu":                          "seq/conv2d_1/Relu",
		"seq/batch_normalization/FusedBatchNormV3:2": "seq/batch_normalization/FusedBatchNormV3:2",
		"conv2d_1/Relu":                              "seq/conv2d_1/Relu",
		"conv2d":                                     "seq/conv2d/Relu", // layer scope → activation, not conv2d_1
		"conv2d_1":                                   "seq/conv2d_1/Relu",
		"seq/conv2d_1":                               "seq/conv2d_1/Relu",
		"batch_normalization_1":                      "seq/batch_normalization_1/FusedBatchNormV3",
		"dense":                                      "seq/dense/Relu",
		"flatten":                                    "seq/flatten/Reshape",
		"#0":                                         "seq/conv2d/Relu",
		"-1":                                         "seq/max_pooling2d_1/MaxPool",
		"#3":                                         "seq/conv2d_1/Relu",
		" max_pooling2d ":                            "seq/max_pooling2d/MaxPool",
	}
	for spec, want := range ok {
		ep, err := ResolveIn(g, spec, ls)
		if err != nil {
			t.Errorf("ResolveIn(%q): %v", spec, err)
			continue
		}
		if ep.String() != want {
			t.Errorf("ResolveIn(%q) = %s, want %s", spec, ep, want)
		}
	}
	bad := map[string]string{
		"Relu":              "ambiguous",
		"conv2d_7":          "close matches",
		"#6":                "out of range: the model has 6 spatial layers",
		"-7":                "out of range",
		"":                  "empty",
		"seq/conv2d/Relu:9": "no output 9",
		"dense_1/Sofmax":    "close matches: seq/dense_1/Softmax",
	}
	for spec, want := range bad {
		_, err := ResolveIn(g, spec, ls)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ResolveIn(%q): error %v, want one containing %q", spec, err, want)
		}
	}
	// Without static shapes, index specs have no list to index.
	if _, err := Resolve(g, "#0"); err == nil || !strings.Contains(err.Error(), "no spatial") {
		t.Errorf("Resolve(#0) without shapes: %v", err)
	}
}

func TestScoreTensor(t *testing.T) {
	g := kerasCNN(t, false, false)
	for _, c := range []struct {
		out  string
		pre  bool
		want string
	}{
		{"Identity", true, "seq/dense_1/BiasAdd"},
		{"Identity", false, "Identity"},
		{"seq/dense_1/Softmax", true, "seq/dense_1/BiasAdd"},
		{"seq/dense/Relu", true, "seq/dense/Relu"},
	} {
		got, err := ScoreTensor(g, c.out, c.pre)
		if err != nil || got != c.want {
			t.Errorf("ScoreTensor(%s, %v) = %q, %v; want %q", c.out, c.pre, got, err, c.want)
		}
	}
	if _, err := ScoreTensor(g, "Identity_1", true); err == nil || !strings.Contains(err.Error(), "Identity") {
		t.Errorf("unknown output: %v", err)
	}
}

func TestTable(t *testing.T) {
	g := kerasCNN(t, true, false)
	eng, err := native.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Table(context.Background(), eng, g, "input_1", sample(8, 8, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Keras' parameter formulas: conv k·k·cin·cout + cout, BN 4·c,
	// dense nin·nout + nout.
	want := []Row{
		{"seq/conv2d", "Conv2D", "seq/conv2d/Relu", []int{1, 8, 8, 2}, 3*3*1*2 + 2},
		{"seq/batch_normalization", "FusedBatchNormV3", "seq/batch_normalization/FusedBatchNormV3", []int{1, 8, 8, 2}, 4 * 2},
		{"seq/max_pooling2d", "MaxPool", "seq/max_pooling2d/MaxPool", []int{1, 4, 4, 2}, 0},
		{"seq/conv2d_1", "Conv2D", "seq/conv2d_1/Relu", []int{1, 4, 4, 3}, 3*3*2*3 + 3},
		{"seq/batch_normalization_1", "FusedBatchNormV3", "seq/batch_normalization_1/FusedBatchNormV3", []int{1, 4, 4, 3}, 4 * 3},
		{"seq/max_pooling2d_1", "MaxPool", "seq/max_pooling2d_1/MaxPool", []int{1, 2, 2, 3}, 0},
		{"seq/flatten", "Reshape", "seq/flatten/Reshape", []int{1, 12}, 0},
		{"seq/dense", "MatMul", "seq/dense/Relu", []int{1, 5}, 12*5 + 5},
		{"seq/dense_1", "MatMul", "seq/dense_1/Softmax", []int{1, 4}, 5*4 + 4},
		{"Identity", "Identity", "Identity", []int{1, 4}, 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Name != w.Name || r.Op != w.Op || r.Output != w.Output || !tensor.SameShape(r.Shape, w.Shape) || r.Params != w.Params {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, s := range []string{"seq/conv2d_1  ", "(1, 4, 4, 3)", "Total params: 186\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	// Without an engine the shapes are the static ones (unknown here).
	rows, err = Table(context.Background(), nil, g, "", nil)
	if err != nil || len(rows) != len(want) || rows[0].Shape != nil || rows[0].Params != 20 {
		t.Errorf("static table: %v, %+v", err, rows)
	}
	if groupDigits(1234567) != "1,234,567" || groupDigits(12) != "12" {
		t.Error("groupDigits")
	}
}
