package layers

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	_ "github.com/tbviz/tbviz/tfmodel/native/image" // ResizeBilinear (potato), until package native links it
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// The Grad-CAM targets of MANIFEST.md (for mnist-seq-bn-tf210, the Relu
// before the BN: see Suggest's rule), and the parameter counts it gives.
var sharedTargets = []struct {
	name, target string
	params       int
}{
	{"cifar10-logits-tf28", "sequential/conv2d_2/Relu", 122570},
	{"mnist-seq-bn-tf210", "sequential/conv2d_2/Relu", 131530},
	{"fashion-mnist-functional-bn-tf25", "model/conv2d_3/Relu", 315598},
	{"mnist-keras3-export-tf220", "sequential_1/conv2d_1_2/Relu", 179926},
	{"potato-disease-tf25", "sequential_5/conv2d_23/Relu", 183747},
	{"tm-mobilenetv2-eyes-tf115", "sequential_5/model2/out_relu/Relu6", 538508},
}

func TestSharedModelsSuggestManifestTarget(t *testing.T) {
	root := testenv.SharedModels(t)
	for _, c := range sharedTargets {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && (c.name == "potato-disease-tf25" || c.name == "tm-mobilenetv2-eyes-tf115") {
				t.Skip("large input; skipped in -short")
			}
			m, err := tfmodel.Load(filepath.Join(root, c.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			eng, err := native.New(m.Graph, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			in := m.Signature.Inputs[0]
			shape := append([]int{1}, in.Shape[1:]...)
			x := tensor.New(tensor.Float32, shape...)
			for i := range x.F32 {
				x.F32[i] = float32(i%13) / 13
			}
			ctx := context.Background()
			ls, err := Spatial(ctx, eng, m.Graph, in.Tensor, x)
			if err != nil {
				t.Fatal(err)
			}
			l, err := Suggest(m.Graph, ls)
			if err != nil {
				t.Fatal(err)
			}
			if l.Name != c.target {
				t.Errorf("Suggest = %s, MANIFEST's Grad-CAM target is %s; spatial layers: %s", l.Name, c.target, names(ls))
			}
			// The manifest's target also resolves from its short layer name.
			short := c.target[strings.LastIndex(ScopeOf(c.target), "/")+1:]
			short = ScopeOf(short)
			if ep, err := ResolveIn(m.Graph, short, ls); err != nil || ep.String() != c.target {
				t.Errorf("ResolveIn(%q) = %v, %v; want %s", short, ep, err, c.target)
			}
			if ep, err := ResolveIn(m.Graph, "-1", ls); err != nil || ep.String() != ls[len(ls)-1].Name {
				t.Errorf("ResolveIn(-1) = %v, %v", ep, err)
			}
			rows, err := Table(ctx, eng, m.Graph, in.Tensor, x)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, r := range rows {
				total += r.Params
			}
			if total != c.params {
				var buf bytes.Buffer
				WriteTable(&buf, rows)
				t.Errorf("table has %d params, MANIFEST says %d:\n%s", total, c.params, buf.String())
			}
			// The score tensor: logits for softmax models.
			out := m.Signature.Outputs[0].Tensor
			s, err := ScoreTensor(m.Graph, out, true)
			if err != nil {
				t.Fatal(err)
			}
			softmax := c.name != "cifar10-logits-tf28"
			ep, err := m.Graph.Resolve(s)
			if err != nil {
				t.Fatal(err)
			}
			if softmax && (s == out || ep.Node.Op == "Softmax") || !softmax && s != out {
				t.Errorf("ScoreTensor(%s) = %s (%s)", out, s, ep.Node.Op)
			}
		})
	}
}
