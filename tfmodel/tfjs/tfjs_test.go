package tfjs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// manifestModel is one entry of .deps/graphmodels/MANIFEST.json, written by
// scripts/unpack-graphmodels.js (an independent JavaScript reading of the
// same model.json files).
type manifestModel struct {
	Name   string `json:"name"`
	Nodes  int    `json:"nodes"`
	Inputs []struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
	} `json:"inputs"`
	Outputs     []string       `json:"outputs"`
	OpCounts    map[string]int `json:"opCounts"`
	Weights     int            `json:"weights"`
	WeightBytes int64          `json:"weightBytes"`
}

func graphModels(t *testing.T) (string, []manifestModel) {
	t.Helper()
	dir := testenv.GraphModels(t)
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.json"))
	if err != nil {
		t.Fatalf("%v (run `make graphmodels`)", err)
	}
	var m struct{ Models []manifestModel }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Models) < 4 {
		t.Fatalf("MANIFEST.json lists %d models, want at least 4", len(m.Models))
	}
	return dir, m.Models
}

func TestGraphModels(t *testing.T) {
	dir, models := graphModels(t)
	for _, mm := range models {
		t.Run(mm.Name, func(t *testing.T) {
			gd, info, err := Load(filepath.Join(dir, mm.Name))
			if err != nil {
				t.Fatal(err)
			}
			if len(gd.GetNode()) != mm.Nodes {
				t.Errorf("%d nodes, MANIFEST.json says %d", len(gd.GetNode()), mm.Nodes)
			}
			if info.Weights != mm.Weights || info.WeightBytes != mm.WeightBytes {
				t.Errorf("%d weights of %d bytes, MANIFEST.json says %d of %d", info.Weights, info.WeightBytes, mm.Weights, mm.WeightBytes)
			}
			if len(info.UnusedWeights) > 0 {
				t.Errorf("unused weights %v", info.UnusedWeights)
			}
			if info.Format != "graph-model" || info.ConvertedBy == "" {
				t.Errorf("info %+v lacks format/convertedBy", info)
			}
			var inNames []string
			for _, in := range mm.Inputs {
				inNames = append(inNames, in.Name)
			}
			if fmt.Sprint(info.InputNames) != fmt.Sprint(inNames) {
				t.Errorf("inputs %v, MANIFEST.json says %v", info.InputNames, inNames)
			}
			var outs []string
			for _, o := range mm.Outputs {
				outs = append(outs, strings.TrimSuffix(o, ":0"))
			}
			sort.Strings(outs)
			got := append([]string(nil), info.OutputNames...)
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(outs) {
				t.Errorf("outputs %v, MANIFEST.json says %v", got, outs)
			}
			ops := map[string]int{}
			consts := 0
			for _, n := range gd.GetNode() {
				ops[n.GetOp()]++
				if n.GetOp() != "Const" {
					continue
				}
				consts++
				v, err := tensor.FromProto(n.GetAttr()["value"].GetTensor())
				if err != nil {
					t.Fatalf("Const %s: %v", n.GetName(), err)
				}
				if v.DType == tensor.Float32 {
					for _, x := range v.F32 {
						if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
							t.Fatalf("Const %s: non-finite value %v", n.GetName(), x)
						}
					}
				}
			}
			if consts != mm.Weights {
				t.Errorf("%d Const nodes, %d weights", consts, mm.Weights)
			}
			if fmt.Sprint(ops) != fmt.Sprint(mm.OpCounts) {
				t.Errorf("op counts %v, MANIFEST.json says %v", ops, mm.OpCounts)
			}
		})
	}
}

// TestWeightsMatchTFJS decodes every weight of every graph-model with
// TF.js's own tf.io.decodeWeights in node and requires bit-identical
// values (uint8 affine dequantization for nsfwjs, float16 for antispoof).
func TestWeightsMatchTFJS(t *testing.T) {
	dir, models := graphModels(t)
	nm := testenv.NPMDir(t)
	node := testenv.Node(t)
	for _, mm := range models {
		t.Run(mm.Name, func(t *testing.T) {
			mdir := filepath.Join(dir, mm.Name)
			out := filepath.Join(t.TempDir(), "w.json")
			cmd := exec.Command(node, "testdata/decode_weights.js", nm, mdir, out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node: %v\n%s", err, b)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]struct {
				DType  string
				Shape  []int
				SHA256 string
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			gd, _, err := Load(mdir)
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, n := range gd.GetNode() {
				w, ok := want[n.GetName()]
				if !ok {
					continue
				}
				tp := n.GetAttr()["value"].GetTensor()
				v, err := tensor.FromProto(tp)
				if err != nil {
					t.Fatal(err)
				}
				if v.DType.String() != w.DType || !tensor.SameShape(v.Shape, w.Shape) {
					t.Errorf("%s: %v%v, TF.js %s%v", n.GetName(), v.DType, v.Shape, w.DType, w.Shape)
				}
				sum := sha256.Sum256(tp.GetTensorContent())
				if hex.EncodeToString(sum[:]) != w.SHA256 {
					t.Errorf("%s: values differ from TF.js's decodeWeights", n.GetName())
				}
				checked++
			}
			if checked != len(want) || checked != mm.Weights {
				t.Errorf("checked %d weights, TF.js decoded %d, manifest has %d", checked, len(want), mm.Weights)
			}
		})
	}
}

func TestFloat16(t *testing.T) {
	// Hand-computed values.
	cases := []struct {
		h    uint16
		want float64
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3800, 0.5}, {0x3555, 0.333251953125},
		{0x7bff, 65504}, {0x0400, 1.0 / 16384}, // smallest normal 2^-14
		{0x0001, 1.0 / 16777216}, // smallest subnormal 2^-24
		{0x03ff, 1023.0 / 16777216},
		{0x0200, 0.5 / 16384},
		{0x8001, -1.0 / 16777216},
		{0x7c00, math.Inf(1)}, {0xfc00, math.Inf(-1)},
	}
	for _, c := range cases {
		if got := Float16(c.h); float64(got) != c.want {
			t.Errorf("Float16(%#04x) = %v, want %v", c.h, got, c.want)
		}
	}
	if got := Float16(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("Float16(0x8000) = %v, want -0", got)
	}
	for _, h := range []uint16{0x7e00, 0x7c01, 0xfe00} {
		if got := Float16(h); !math.IsNaN(float64(got)) {
			t.Errorf("Float16(%#04x) = %v, want NaN", h, got)
		}
	}
	// Every half value against the textbook formula in float64:
	// (-1)^s * 2^(e-15) * (1 + m/1024), or 2^-14 * m/1024 for e == 0.
	for i := range 1 << 16 {
		h := uint16(i)
		s, e, m := h>>15, int(h>>10)&31, float64(h&0x3ff)
		if e == 31 {
			continue
		}
		want := math.Ldexp(1+m/1024, e-15)
		if e == 0 {
			want = math.Ldexp(m/1024, -14)
		}
		if s == 1 {
			want = -want
		}
		if got := Float16(h); float64(got) != want {
			t.Fatalf("Float16(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestDequantize(t *testing.T) {
	got, err := Dequantize("uint8", []byte{0, 1, 255}, 0.5, -1)
	if err != nil || fmt.Sprint(got) != "[-1 -0.5 126.5]" {
		t.Errorf("uint8: %v, %v", got, err)
	}
	// uint16 is little-endian: 0x0102 = 258, 0xffff = 65535.
	got, err = Dequantize("uint16", []byte{0x02, 0x01, 0xff, 0xff, 0, 0}, 0.25, 10)
	if err != nil || fmt.Sprint(got) != "[74.5 16393.75 10]" {
		t.Errorf("uint16: %v, %v", got, err)
	}
	// Rounded once from float64, as JavaScript does: 3*0.1 + 0.2 in
	// float64 is 0.5000000000000001, which rounds to float32 0.5.
	got, _ = Dequantize("uint8", []byte{3}, 0.1, 0.2)
	if got[0] != float32(3*0.1+0.2) {
		t.Errorf("rounding: %v", got[0])
	}
	if _, err := Dequantize("uint16", []byte{1, 2, 3}, 1, 0); err == nil {
		t.Error("odd uint16 byte count accepted")
	}
	if _, err := Dequantize("int8", []byte{1}, 1, 0); err == nil {
		t.Error("int8 storage accepted")
	}
}

// memSource serves shards from memory.
type memSource map[string][]byte

func (m memSource) size(name string) (int64, error) {
	b, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("open %s: %w", name, os.ErrNotExist)
	}
	return int64(len(b)), nil
}

func (m memSource) read(name string) ([]byte, error) {
	if _, err := m.size(name); err != nil {
		return nil, err
	}
	return m[name], nil
}

// synthModel is a small graph-model exercising every weight encoding.
const synthModel = `{
 "format": "graph-model", "generatedBy": "hand", "convertedBy": null,
 "modelTopology": {"node": [
  {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {"shape": {"dim": [{"size": "-1"}, {"size": "2"}]}}}},
  {"name": "w8", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]}}}}},
  {"name": "w16", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]}}}}},
  {"name": "wh", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]}}}}},
  {"name": "wi", "op": "Const", "attr": {"dtype": {"type": "DT_INT32"}, "value": {"tensor": {"dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "2"}]}}}}},
  {"name": "wq", "op": "Const", "attr": {"dtype": {"type": "DT_INT32"}, "value": {"tensor": {"dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "2"}]}}}}},
  {"name": "wb", "op": "Const", "attr": {"dtype": {"type": "DT_BOOL"}, "value": {"tensor": {"dtype": "DT_BOOL", "tensorShape": {"dim": [{"size": "2"}]}}}}},
  {"name": "wf", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {}}}}},
  {"name": "inline", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {"tensor": {"dtype": "DT_FLOAT", "tensorShape": {}, "floatVal": [7]}}}},
  {"name": "a", "op": "Mul", "input": ["x", "w8"], "attr": {"T": {"type": "DT_FLOAT"}}},
  {"name": "b", "op": "AddV2", "input": ["a", "w16", "^wh"], "attr": {"T": {"type": "DT_FLOAT"}}},
  {"name": "c", "op": "Identity", "input": ["b:0"], "attr": {"T": {"type": "DT_FLOAT"}}}
 ], "versions": {"producer": 1}},
 "userDefinedMetadata": {"foo": [1, 2]},
 "modelInitializer": {"node": []},
 "weightsManifest": [
  {"paths": ["g0a.bin", "g0b.bin"], "weights": [
   {"name": "w8", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
   {"name": "w16", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 2, "min": 1}},
   {"name": "wh", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}]},
  {"paths": ["g1.bin"], "weights": [
   {"name": "wi", "shape": [2], "dtype": "int32"},
   {"name": "wq", "shape": [2], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.3, "min": -1}},
   {"name": "wb", "shape": [2], "dtype": "bool"},
   {"name": "wf", "shape": [], "dtype": "float32"},
   {"name": "extra", "shape": [1], "dtype": "float32"}]}
 ]}`

func synthShards() memSource {
	return memSource{
		// w8: 2, 4; w16: 3, 256 (LE); wh: 0x3c00, 0xc000.
		"g0a.bin": {2, 4, 3},
		"g0b.bin": {0, 0, 1, 0x00, 0x3c, 0x00, 0xc0},
		// wi: -5, 7; wq: 5, 10; wb: 0, 3; wf: 1.5; extra: 0.
		"g1.bin": append(append(append(
			binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, uint32(0xfffffffb)), 7),
			5, 10, 0, 3),
			binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5))...), 0, 0, 0, 0),
	}
}

func nodeValue(t *testing.T, gd *graphpb.GraphDef, name string) *tensor.Tensor {
	t.Helper()
	for _, n := range gd.GetNode() {
		if n.GetName() == name {
			v, err := tensor.FromProto(n.GetAttr()["value"].GetTensor())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return v
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func TestSynthetic(t *testing.T) {
	gd, info, err := decode([]byte(synthModel), synthShards())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"w8":     "float32(2,)[0 1]",   // 2*0.5-1, 4*0.5-1
		"w16":    "float32(2,)[7 513]", // 3*2+1, 256*2+1
		"wh":     "float32(2,)[1 -2]",  // half 0x3c00, 0xc000
		"wi":     "int32(2,)[-5 7]",    // raw little-endian
		"wq":     "int32(2,)[1 2]",     // round(5*0.3-1)=round(0.5)=1, round(10*0.3-1)=2
		"wb":     "bool(2,)[0 1]",      // nonzero byte is true
		"wf":     "float32()[1.5]",     // scalar
		"inline": "float32()[7]",       // untouched inline value
	} {
		if got := nodeValue(t, gd, name).String(); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if info.GeneratedBy != "hand" || info.ConvertedBy != "" || info.Signature != nil {
		t.Errorf("info %+v", info)
	}
	if fmt.Sprint(info.InputNames) != "[x]" || fmt.Sprint(info.OutputNames) != "[c]" {
		t.Errorf("inputs %v outputs %v, want [x] [c]", info.InputNames, info.OutputNames)
	}
	if fmt.Sprint(info.UnusedWeights) != "[extra]" || info.Weights != 8 || info.WeightBytes != 2+4+4+8+2+2+4+4 {
		t.Errorf("weights %d (%d bytes), unused %v", info.Weights, info.WeightBytes, info.UnusedWeights)
	}
	if fmt.Sprint(info.StorageDTypes) != "[bool float16 float32 int32 uint16 uint8]" {
		t.Errorf("storage dtypes %v", info.StorageDTypes)
	}
}

func TestSyntheticErrors(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(m string) string
		shards func(s memSource)
		want   []string
	}{
		{"short shard", nil, func(s memSource) { s["g1.bin"] = s["g1.bin"][:9] },
			[]string{"group 1", "g1.bin", `weight "wq"`, "cut short", "hold 9 bytes", "need 20"}},
		{"long shard", nil, func(s memSource) { s["g0b.bin"] = append(s["g0b.bin"], 0) }, []string{"group 0", "1 bytes too many"}},
		{"missing shard", nil, func(s memSource) { delete(s, "g0b.bin") }, []string{`shard "g0b.bin"`, "does not exist"}},
		{"bad json", func(m string) string { return m[:100] }, nil, []string{"parse model.json"}},
		{"layers model", func(string) string {
			return `{"modelTopology": {"keras_version": "2.2.4", "model_config": {"class_name": "Model"}}, "weightsManifest": []}`
		}, nil, []string{"layers-model"}},
		{"other format", func(m string) string { return strings.Replace(m, `"graph-model"`, `"saved-model"`, 1) }, nil, []string{`format "saved-model"`}},
		{"not a graphdef", func(m string) string { return strings.Replace(m, `"op": "Mul"`, `"op": 5`, 1) }, nil, []string{"not a GraphDef"}},
		{"no topology", func(string) string { return `{"format": "graph-model"}` }, nil, []string{"no modelTopology"}},
		{"weight for non-Const", func(m string) string { return strings.Replace(m, `"name": "extra"`, `"name": "a"`, 1) }, nil,
			[]string{`weight "a"`, "Mul, not a Const"}},
		{"dtype mismatch", func(m string) string {
			return strings.Replace(m, `{"name": "wi", "shape": [2], "dtype": "int32"}`, `{"name": "wi", "shape": [2], "dtype": "float32"}`, 1)
		}, nil, []string{`weight "wi" is float32`, "DT_INT32"}},
		{"shape mismatch", func(m string) string {
			return strings.Replace(m, `"name": "wf", "shape": []`, `"name": "wf", "shape": [1]`, 1)
		}, nil,
			[]string{`weight "wf" has shape [1]`, "declares []"}},
		{"absurd shape", func(m string) string {
			return strings.Replace(m, `"name": "extra", "shape": [1]`, `"name": "extra", "shape": [1000000, 1000000]`, 1)
		}, nil, []string{`weight "extra"`, "more than"}},
		{"negative dim", func(m string) string {
			return strings.Replace(m, `"name": "extra", "shape": [1]`, `"name": "extra", "shape": [-1]`, 1)
		}, nil,
			[]string{`weight "extra"`, "bad dimension"}},
		{"uint8 without scale", func(m string) string { return strings.Replace(m, `"scale": 0.5, `, ``, 1) }, nil, []string{`weight "w8"`, "without scale"}},
		{"float16 int32", func(m string) string {
			return strings.Replace(m, `"name": "wq", "shape": [2], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.3, "min": -1}`,
				`"name": "wq", "shape": [2], "dtype": "int32", "quantization": {"dtype": "float16"}`, 1)
		}, nil, []string{`weight "wq"`, "float16 quantization of a int32"}},
		{"string weight", func(m string) string {
			return strings.Replace(m, `"name": "wb", "shape": [2], "dtype": "bool"`, `"name": "wb", "shape": [2], "dtype": "string"`, 1)
		}, nil,
			[]string{`weight "wb"`, `dtype "string"`}},
		{"duplicate weight", func(m string) string { return strings.Replace(m, `"name": "extra"`, `"name": "wi"`, 1) }, nil, []string{`"wi" listed twice`}},
		{"const without weight", func(m string) string {
			return strings.Replace(m, `{"name": "wf", "shape": []`, `{"name": "wf2", "shape": []`, 1)
		}, nil,
			[]string{`node "wf" (Const) has no weight`}},
		{"escaping path", func(m string) string { return strings.Replace(m, `["g0a.bin",`, `["../g0a.bin",`, 1) }, nil, []string{"not inside the model directory"}},
		{"signature names missing node", func(m string) string {
			return strings.Replace(m, `"userDefinedMetadata": {"foo": [1, 2]}`,
				`"signature": {"outputs": {"out": {"name": "nope:0", "dtype": "DT_FLOAT"}}}`, 1)
		}, nil, []string{`signature output "out"`, `no node "nope"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := synthModel
			if c.edit != nil {
				m = c.edit(m)
			}
			s := synthShards()
			if c.shards != nil {
				c.shards(s)
			}
			src := source(s)
			if c.name == "escaping path" {
				src = dirSource(t.TempDir())
			}
			_, _, err := decode([]byte(m), src)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSignature(t *testing.T) {
	m := strings.Replace(synthModel, `"userDefinedMetadata": {"foo": [1, 2]}`,
		`"signature": {"inputs": {"x:0": {"name": "x:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "-1"}, {"size": "2"}]}}},
		 "outputs": {"z": {"name": "b:0", "dtype": "DT_FLOAT", "tensorShape": {"unknownRank": true}}, "a": {"name": "a", "dtype": "DT_FLOAT"}}}`, 1)
	_, info, err := decode([]byte(m), synthShards())
	if err != nil {
		t.Fatal(err)
	}
	s := info.Signature
	if s == nil || len(s.Inputs) != 1 || len(s.Outputs) != 2 {
		t.Fatalf("signature %+v", s)
	}
	if in := s.Inputs[0]; in.Key != "x:0" || in.Name != "x:0" || in.DType != tensor.Float32 || fmt.Sprint(in.Shape) != "[-1 2]" {
		t.Errorf("input %+v", in)
	}
	if s.Outputs[0].Key != "a" || s.Outputs[0].Shape != nil || s.Outputs[1].Shape != nil {
		t.Errorf("outputs %+v", s.Outputs)
	}
	// Outputs follow the signature (key order), not the graph's sinks.
	if fmt.Sprint(info.OutputNames) != "[a b]" {
		t.Errorf("OutputNames %v, want [a b]", info.OutputNames)
	}
}

// copyModel copies a model directory into a temp dir.
func copyModel(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestCorruptedRealModel(t *testing.T) {
	dir, _ := graphModels(t)
	src := filepath.Join(dir, "nsfwjs-mobilenetv2")
	t.Run("truncated second shard", func(t *testing.T) {
		d := copyModel(t, src)
		p := filepath.Join(d, "group1-shard2of2")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)-1000], 0o644)
		_, _, err := Load(d)
		if err == nil || !strings.Contains(err.Error(), "group1-shard2of2") || !strings.Contains(err.Error(), "cut short") ||
			!strings.Contains(err.Error(), "model.json") {
			t.Errorf("error %v; want one naming the shard, the weight and model.json", err)
		}
	})
	t.Run("missing shard", func(t *testing.T) {
		d := copyModel(t, src)
		os.Remove(filepath.Join(d, "group1-shard1of2"))
		_, _, err := Load(d)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "group1-shard1of2") {
			t.Errorf("error %v; want not-exist naming group1-shard1of2", err)
		}
	})
	t.Run("no model.json", func(t *testing.T) {
		_, _, err := Load(t.TempDir())
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v; want not-exist", err)
		}
	})
}

func FuzzModelJSON(f *testing.F) {
	f.Add([]byte(synthModel))
	f.Add([]byte(`{"format":"graph-model","modelTopology":{"node":[{"name":"a","op":"Const"}]},"weightsManifest":[]}`))
	if dir := filepath.Join(testenv.RepoRoot(), ".deps", "graphmodels", "human-antispoof", "model.json"); dir != "" {
		if b, err := os.ReadFile(dir); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gd, info, err := decode(data, synthShards())
		if err != nil {
			return
		}
		if gd == nil || info == nil || len(info.OutputNames) == 0 {
			t.Fatalf("success without graph or outputs: %v %+v", gd, info)
		}
		for _, n := range gd.GetNode() {
			if n.GetOp() == "Const" {
				// Every Const the loader accepted has a decodable value
				// unless its inline value is malformed (then FromProto says so).
				_, _ = tensor.FromProto(n.GetAttr()["value"].GetTensor())
			}
		}
	})
}
