// Package savedmodel parses TensorFlow SavedModel directories without
// TensorFlow: saved_model.pb (or saved_model.pbtxt), the MetaGraph chosen
// by tags, its signatures, the mapping from variable handles to checkpoint
// keys (found by following the restore graph), and metadata such as the
// TensorFlow version and the export format.
//
// It does not build graphs or read variables; package tfmodel combines it
// with package graph and package bundle.
package savedmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	corepb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"

	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// MaxFileSize bounds the size of saved_model.pb / saved_model.pbtxt that
// Read accepts (protobuf itself cannot encode messages over 2 GiB).
const MaxFileSize = 1 << 30

// DefaultTags selects the serving MetaGraph.
var DefaultTags = []string{"serve"}

// DefaultSignature is the signature Keras and TF Serving use by default.
const DefaultSignature = "serving_default"

// SavedModel is a parsed saved_model.pb or saved_model.pbtxt.
type SavedModel struct {
	// Dir is the SavedModel directory.
	Dir string
	// File is the path of the file that was parsed.
	File string
	// Proto is the parsed message.
	Proto *corepb.SavedModel
}

// Read parses dir/saved_model.pb or, when that does not exist,
// dir/saved_model.pbtxt.
func Read(dir string) (*SavedModel, error) {
	path := filepath.Join(dir, "saved_model.pb")
	text := false
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		path = filepath.Join(dir, "saved_model.pbtxt")
		text = true
		st, err = os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read SavedModel %s: no saved_model.pb or saved_model.pbtxt", dir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read SavedModel: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read SavedModel: %s is not a regular file", path)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("read SavedModel: %s is %d bytes, more than the %d accepted", path, st.Size(), MaxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SavedModel: %w", err)
	}
	sm, err := Parse(data, text)
	if err != nil {
		return nil, fmt.Errorf("read SavedModel %s: %w", path, err)
	}
	return &SavedModel{Dir: dir, File: path, Proto: sm}, nil
}

// Parse decodes a SavedModel message from binary protobuf, or from
// prototext when text is true, and checks that it holds at least one
// MetaGraph with a graph.
func Parse(data []byte, text bool) (*corepb.SavedModel, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes, more than the %d accepted", len(data), MaxFileSize)
	}
	sm := &corepb.SavedModel{}
	var err error
	if text {
		err = prototext.Unmarshal(data, sm)
	} else {
		err = proto.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, sm)
	}
	if err != nil {
		return nil, fmt.Errorf("not a valid SavedModel (truncated or corrupt?): %w", err)
	}
	if len(sm.GetMetaGraphs()) == 0 {
		return nil, fmt.Errorf("not a valid SavedModel: no MetaGraph (truncated or corrupt?)")
	}
	for i, mg := range sm.GetMetaGraphs() {
		if mg.GetGraphDef() == nil {
			return nil, fmt.Errorf("not a valid SavedModel: MetaGraph %d has no graph", i)
		}
	}
	return sm, nil
}

// MetaGraph returns the MetaGraph whose tag set equals tags (in any
// order); nil or empty tags mean DefaultTags. When no MetaGraph matches the
// error lists the available tag sets.
func (m *SavedModel) MetaGraph(tags []string) (*corepb.MetaGraphDef, error) {
	if len(tags) == 0 {
		tags = DefaultTags
	}
	want := sortedSet(tags)
	var avail []string
	for _, mg := range m.Proto.GetMetaGraphs() {
		have := sortedSet(mg.GetMetaInfoDef().GetTags())
		if slices.Equal(have, want) {
			return mg, nil
		}
		avail = append(avail, "["+strings.Join(have, ",")+"]")
	}
	return nil, fmt.Errorf("SavedModel %s has no MetaGraph with tags [%s]; available tag sets: %s", m.Dir, strings.Join(want, ","), strings.Join(avail, " "))
}

func sortedSet(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return slices.Compact(out)
}

// TensorInfo describes one input or output of a signature.
type TensorInfo struct {
	// Key is the signature key, e.g. "conv2d_input" or "output_0".
	Key string
	// Name is the main-graph tensor name, e.g.
	// "serving_default_conv2d_input:0"; empty for sparse and composite
	// tensors, which tbviz does not support.
	Name string
	// DType is the element type; tensor.Invalid when the signature gives
	// none or one tbviz does not support (see DTypeName).
	DType tensor.DType
	// DTypeName is TensorFlow's name of the type, e.g. "DT_FLOAT".
	DTypeName string
	// Shape uses -1 for unknown dimensions; nil for unknown rank.
	Shape []int
}

// Signature is one SignatureDef.
type Signature struct {
	// Name is the signature key, e.g. "serving_default".
	Name string
	// Method is the method name, e.g. "tensorflow/serving/predict".
	Method string
	// Inputs and Outputs are sorted by Key.
	Inputs, Outputs []TensorInfo
}

// Signatures returns every signature of mg, sorted by name.
func Signatures(mg *corepb.MetaGraphDef) []Signature {
	var out []Signature
	for name, sd := range mg.GetSignatureDef() {
		out = append(out, Signature{
			Name:    name,
			Method:  sd.GetMethodName(),
			Inputs:  tensorInfos(sd.GetInputs()),
			Outputs: tensorInfos(sd.GetOutputs()),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func tensorInfos(m map[string]*corepb.TensorInfo) []TensorInfo {
	var out []TensorInfo
	for key, ti := range m {
		info := TensorInfo{Key: key, Name: ti.GetName(), DTypeName: ti.GetDtype().String()}
		if dt, err := tensor.FromProtoDType(ti.GetDtype()); err == nil {
			info.DType = dt
		}
		info.Shape = tensor.ShapeFromProto(ti.GetTensorShape())
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// SelectSignature returns the named signature of mg (DefaultSignature when name
// is empty). An unknown name is an error listing the available ones.
func SelectSignature(mg *corepb.MetaGraphDef, name string) (Signature, error) {
	if name == "" {
		name = DefaultSignature
	}
	all := Signatures(mg)
	var names []string
	for _, s := range all {
		if s.Name == name {
			if len(s.Outputs) == 0 {
				return Signature{}, fmt.Errorf("signature %q has no outputs", name)
			}
			for _, t := range append(append([]TensorInfo(nil), s.Inputs...), s.Outputs...) {
				if t.Name == "" {
					return Signature{}, fmt.Errorf("signature %q: tensor %q is sparse or composite, which is not supported", name, t.Key)
				}
			}
			return s, nil
		}
		names = append(names, s.Name)
	}
	return Signature{}, fmt.Errorf("no signature %q; available signatures: %s", name, strings.Join(names, ", "))
}
