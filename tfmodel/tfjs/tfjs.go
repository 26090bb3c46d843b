// Package tfjs loads TensorFlow.js graph-models: a directory holding
// model.json (a GraphDef in protobuf JSON under "modelTopology", plus a
// "weightsManifest") and the binary weight shards it names.
//
// Load returns the GraphDef with every weight placed into its Const node's
// "value" attribute as a TensorProto (quantized weights dequantized to
// float32, exactly as TF.js does), ready for graph.FromGraphDef, and an Info
// describing the model's inputs and outputs.
package tfjs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	graphpb "github.com/wamuir/graft/tensorflow/core/framework/graph_go_proto"
	protobufpb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// maxModelJSON bounds the size of model.json read into memory.
const maxModelJSON = 256 << 20

// Info describes a loaded graph-model.
type Info struct {
	// Format, GeneratedBy and ConvertedBy are model.json's fields of those
	// names, e.g. "graph-model", "2.2.0", "TensorFlow.js Converter v1.7.4r1".
	Format, GeneratedBy, ConvertedBy string
	// Signature is the model's serving signature, from model.json's
	// "signature" or, as older converters wrote it,
	// "userDefinedMetadata.signature"; nil when absent.
	Signature *Signature
	// InputNames are the Placeholder nodes, in graph order.
	InputNames []string
	// OutputNames are the tensors to compute, as "node" or "node:i": the
	// signature's outputs (in key order) when there is a signature, else the
	// non-Const nodes that no other node consumes. Graph builders prune to
	// these.
	OutputNames []string
	// Weights is the number of weights in the manifest and WeightBytes
	// their stored size.
	Weights     int
	WeightBytes int64
	// StorageDTypes are the distinct stored weight types ("float32",
	// "int32", "uint8", "uint16", "float16"), sorted.
	StorageDTypes []string
	// UnusedWeights names manifest weights that match no Const node (TF.js
	// ignores them too).
	UnusedWeights []string
}

// Signature is a graph-model's serving signature.
type Signature struct {
	// Inputs and Outputs are sorted by Key.
	Inputs, Outputs []TensorInfo
}

// TensorInfo describes one signature tensor.
type TensorInfo struct {
	// Key is the signature key, e.g. "input:0" or "output_0".
	Key string
	// Name is the graph tensor name, e.g. "input:0".
	Name string
	// DType is the element type (Invalid when the signature gives none or
	// one tbviz does not support).
	DType tensor.DType
	// Shape uses -1 for unknown dimensions; nil for unknown rank.
	Shape []int
}

// modelJSON is the part of model.json that Load reads.
type modelJSON struct {
	Format              string          `json:"format"`
	GeneratedBy         string          `json:"generatedBy"`
	ConvertedBy         *string         `json:"convertedBy"`
	ModelTopology       json.RawMessage `json:"modelTopology"`
	WeightsManifest     []weightGroup   `json:"weightsManifest"`
	Signature           json.RawMessage `json:"signature"`
	UserDefinedMetadata struct {
		Signature json.RawMessage `json:"signature"`
	} `json:"userDefinedMetadata"`
	// modelInitializer and other fields are ignored.
}

type weightGroup struct {
	Paths   []string     `json:"paths"`
	Weights []weightSpec `json:"weights"`
}

type weightSpec struct {
	Name         string        `json:"name"`
	Shape        []int64       `json:"shape"`
	DType        string        `json:"dtype"`
	Quantization *quantization `json:"quantization"`
}

type quantization struct {
	DType string   `json:"dtype"`
	Scale *float64 `json:"scale"`
	Min   *float64 `json:"min"`
}

// source gives access to the weight shard files.
type source interface {
	// size returns the size of a shard, or an error naming it.
	size(name string) (int64, error)
	// read returns the whole shard.
	read(name string) ([]byte, error)
}

type dirSource string

func (d dirSource) path(name string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("weight path %q is not inside the model directory", name)
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

func (d dirSource) size(name string) (int64, error) {
	p, err := d.path(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("weight shard %s is not a regular file", p)
	}
	return st.Size(), nil
}

func (d dirSource) read(name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// Load reads the graph-model in dir (dir/model.json and its weight
// shards). Weights are checked against their specs (sizes, shapes, dtypes,
// the Const node they fill) and errors name the file and weight at fault.
func Load(dir string) (*graphpb.GraphDef, *Info, error) {
	path := filepath.Join(dir, "model.json")
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load tfjs model %s: %w", dir, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxModelJSON+1))
	if err != nil {
		return nil, nil, fmt.Errorf("load tfjs model %s: %w", dir, err)
	}
	if len(data) > maxModelJSON {
		return nil, nil, fmt.Errorf("load tfjs model %s: model.json is larger than %d bytes", dir, maxModelJSON)
	}
	gd, info, err := decode(data, dirSource(dir))
	if err != nil {
		return nil, nil, fmt.Errorf("load tfjs model %s: %w", path, err)
	}
	return gd, info, nil
}

// decode parses model.json bytes and attaches the weights from src.
func decode(data []byte, src source) (*graphpb.GraphDef, *Info, error) {
	var m modelJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("parse model.json: %w", err)
	}
	if len(m.ModelTopology) == 0 || string(m.ModelTopology) == "null" {
		return nil, nil, errors.New("model.json has no modelTopology")
	}
	var probe struct {
		ModelConfig json.RawMessage `json:"model_config"`
		ClassName   string          `json:"class_name"`
	}
	_ = json.Unmarshal(m.ModelTopology, &probe)
	if m.Format == "layers-model" || len(probe.ModelConfig) > 0 || probe.ClassName != "" {
		return nil, nil, errors.New("model.json is a TF.js layers-model (Keras config); only graph-models (converted GraphDefs) are supported")
	}
	if m.Format != "" && m.Format != "graph-model" {
		return nil, nil, fmt.Errorf("model.json has format %q, expected \"graph-model\"", m.Format)
	}
	gd := &graphpb.GraphDef{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(m.ModelTopology, gd); err != nil {
		return nil, nil, fmt.Errorf("modelTopology is not a GraphDef: %w", err)
	}
	if len(gd.GetNode()) == 0 {
		return nil, nil, errors.New("modelTopology has no nodes")
	}
	info := &Info{Format: m.Format, GeneratedBy: m.GeneratedBy}
	if m.ConvertedBy != nil {
		info.ConvertedBy = *m.ConvertedBy
	}
	sigJSON := m.Signature
	if len(sigJSON) == 0 || string(sigJSON) == "null" {
		sigJSON = m.UserDefinedMetadata.Signature
	}
	if len(sigJSON) > 0 && string(sigJSON) != "null" {
		sig, err := parseSignature(sigJSON)
		if err != nil {
			return nil, nil, err
		}
		info.Signature = sig
	}
	if err := attachWeights(gd, m.WeightsManifest, src, info); err != nil {
		return nil, nil, err
	}
	if err := ioNames(gd, info); err != nil {
		return nil, nil, err
	}
	return gd, info, nil
}

func parseSignature(b json.RawMessage) (*Signature, error) {
	sd := &protobufpb.SignatureDef{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, sd); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	conv := func(m map[string]*protobufpb.TensorInfo) []TensorInfo {
		var out []TensorInfo
		for k, ti := range m {
			t := TensorInfo{Key: k, Name: ti.GetName(), Shape: tensor.ShapeFromProto(ti.GetTensorShape())}
			if ti.GetTensorShape() == nil {
				t.Shape = nil
			}
			if dt, err := tensor.FromProtoDType(ti.GetDtype()); err == nil {
				t.DType = dt
			}
			out = append(out, t)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		return out
	}
	return &Signature{Inputs: conv(sd.GetInputs()), Outputs: conv(sd.GetOutputs())}, nil
}

// nodeOf returns the node part of a tensor or input name ("^n", "n:1").
func nodeOf(name string) string {
	name = strings.TrimPrefix(name, "^")
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[:i]
	}
	return name
}

// canonical returns "node" for output 0 and "node:i" otherwise.
func canonical(name string) string {
	return strings.TrimSuffix(name, ":0")
}

// ioNames fills InputNames and OutputNames.
func ioNames(gd *graphpb.GraphDef, info *Info) error {
	nodes := map[string]bool{}
	consumed := map[string]bool{}
	for _, n := range gd.GetNode() {
		nodes[n.GetName()] = true
		for _, in := range n.GetInput() {
			consumed[nodeOf(in)] = true
		}
		if n.GetOp() == "Placeholder" {
			info.InputNames = append(info.InputNames, n.GetName())
		}
	}
	if info.Signature != nil && len(info.Signature.Outputs) > 0 {
		for _, o := range info.Signature.Outputs {
			if !nodes[nodeOf(o.Name)] {
				return fmt.Errorf("signature output %q names tensor %q, but the graph has no node %q", o.Key, o.Name, nodeOf(o.Name))
			}
			info.OutputNames = append(info.OutputNames, canonical(o.Name))
		}
		return nil
	}
	for _, n := range gd.GetNode() {
		switch n.GetOp() {
		case "Const", "NoOp", "Placeholder":
			continue
		}
		if !consumed[n.GetName()] {
			info.OutputNames = append(info.OutputNames, n.GetName())
		}
	}
	if len(info.OutputNames) == 0 {
		return errors.New("graph has no output: every non-Const node is consumed and there is no signature")
	}
	return nil
}
