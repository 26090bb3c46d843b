package tfmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tbviz/tbviz/tfmodel/bundle"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/savedmodel"
	"github.com/tbviz/tbviz/tfmodel/tfjs"
)

// LoadOptions configures Load. The zero value (or a nil pointer) selects
// the "serve" MetaGraph and the "serving_default" signature.
type LoadOptions struct {
	// Tags select a SavedModel's MetaGraph; empty means ["serve"].
	// Ignored for TF.js models.
	Tags []string
	// Signature is the signature to load; empty means "serving_default"
	// (for a TF.js model, its only signature).
	Signature string
	// ExtraOutputs are main-graph tensor names to keep in the graph in
	// addition to the signature outputs.
	ExtraOutputs []string
}

// Load loads the model in dir: a SavedModel directory (saved_model.pb or
// saved_model.pbtxt beside variables/) or a TF.js graph-model directory
// (model.json and its weight shards). opts may be nil.
func Load(dir string, opts *LoadOptions) (*Model, error) {
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("load %s: not a directory (give the SavedModel or TF.js model directory)", dir)
	}
	switch {
	case exists(filepath.Join(dir, "saved_model.pb")) || exists(filepath.Join(dir, "saved_model.pbtxt")):
		m, err := loadSavedModel(dir, o)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		return m, nil
	case exists(filepath.Join(dir, "model.json")):
		m, err := loadTFJS(dir, o)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("load %s: not a model directory: it has neither saved_model.pb, saved_model.pbtxt nor model.json", dir)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func loadSavedModel(dir string, o LoadOptions) (*Model, error) {
	sm, err := savedmodel.Read(dir)
	if err != nil {
		return nil, err
	}
	mg, err := sm.MetaGraph(o.Tags)
	if err != nil {
		return nil, err
	}
	sig, err := savedmodel.SelectSignature(mg, o.Signature)
	if err != nil {
		return nil, err
	}
	info := sm.Info(mg)
	m := &Model{
		Dir:          dir,
		Format:       info.Format,
		TFVersion:    info.TFVersion,
		TFGitVersion: info.TFGitVersion,
		KerasVersion: info.KerasVersion,
	}
	for _, s := range savedmodel.Signatures(mg) {
		m.Signatures = append(m.Signatures, signatureInfo(s))
	}
	m.Signature = signatureInfo(sig)

	keys, err := savedmodel.VariableKeys(mg)
	if err != nil {
		return nil, err
	}
	vars := &varBinder{prefix: filepath.Join(dir, "variables", "variables"), keys: keys}
	defer vars.close()

	bo := graph.BuildOptions{
		Variable: vars.bind,
		OpDefs:   mg.GetMetaInfoDef().GetStrippedOpList().GetOp(),
	}
	for _, t := range sig.Outputs {
		bo.Outputs = append(bo.Outputs, t.Name)
	}
	bo.Outputs = append(bo.Outputs, o.ExtraOutputs...)
	for _, t := range sig.Inputs {
		bo.Feeds = append(bo.Feeds, t.Name)
	}
	g, err := graph.FromGraphDef(mg.GetGraphDef(), bo)
	if err != nil {
		return nil, fmt.Errorf("signature %q: %w", sig.Name, err)
	}
	m.Graph = g
	m.finish()
	return m, nil
}

// varBinder binds variable handles to checkpoint values, opening the
// bundle on first use.
type varBinder struct {
	prefix string
	keys   map[string]string
	r      *bundle.Reader
}

func (v *varBinder) bind(n *graph.Node) error {
	key, ok := v.keys[n.Name]
	if !ok {
		return fmt.Errorf("the restore graph assigns no checkpoint key to this variable")
	}
	if v.r == nil {
		if !exists(v.prefix + ".index") {
			return fmt.Errorf("checkpoint %s.index is missing (the SavedModel's variables/ directory is incomplete or absent)", v.prefix)
		}
		r, err := bundle.Open(v.prefix)
		if err != nil {
			return err
		}
		v.r = r
	}
	t, err := v.r.Read(key)
	if err != nil {
		return err
	}
	if want, err := n.AttrType("dtype"); err == nil && want != t.DType {
		return fmt.Errorf("checkpoint key %q holds %v, the variable is %v", key, t.DType, want)
	}
	if want, err := n.AttrShape("shape"); err == nil && want != nil && !shapeFits(want, t.Shape) {
		return fmt.Errorf("checkpoint key %q has shape %v, the variable has shape %v", key, t.Shape, want)
	}
	n.Value = t
	n.VarKey = key
	return nil
}

// shapeFits reports whether shape matches pattern (-1 matches any size).
func shapeFits(pattern, shape []int) bool {
	if len(pattern) != len(shape) {
		return false
	}
	for i, d := range pattern {
		if d >= 0 && d != shape[i] {
			return false
		}
	}
	return true
}

func (v *varBinder) close() {
	if v.r != nil {
		v.r.Close()
	}
}

func signatureInfo(s savedmodel.Signature) SignatureInfo {
	out := SignatureInfo{Name: s.Name, Method: s.Method}
	conv := func(ts []savedmodel.TensorInfo) []TensorInfo {
		var r []TensorInfo
		for _, t := range ts {
			r = append(r, TensorInfo{Key: t.Key, Tensor: t.Name, DType: t.DType, Shape: t.Shape})
		}
		return r
	}
	out.Inputs = conv(s.Inputs)
	out.Outputs = conv(s.Outputs)
	return out
}

// finish fills Variables and Notes from the built graph.
func (m *Model) finish() {
	for _, n := range m.Graph.Nodes {
		if n.VarKey != "" && n.Value != nil {
			m.Variables = append(m.Variables, VariableInfo{Node: n.Name, Key: n.VarKey, DType: n.Value.DType, Shape: n.Value.Shape})
		}
	}
	for _, in := range m.Signature.Inputs {
		if _, err := m.Graph.Resolve(in.Tensor); err != nil {
			m.Notes = append(m.Notes, fmt.Sprintf("signature input %q (%s) is not used by the outputs", in.Key, in.Tensor))
		}
	}
}

func loadTFJS(dir string, o LoadOptions) (*Model, error) {
	gd, info, err := tfjs.Load(dir)
	if err != nil {
		return nil, err
	}
	sig := SignatureInfo{Name: "serving_default"}
	if o.Signature != "" && o.Signature != sig.Name {
		return nil, fmt.Errorf("no signature %q; available signatures: %s", o.Signature, sig.Name)
	}
	placeholders := map[string]*graph.Node{}
	if info.Signature != nil {
		for _, t := range info.Signature.Inputs {
			sig.Inputs = append(sig.Inputs, TensorInfo{Key: t.Key, Tensor: t.Name, DType: t.DType, Shape: t.Shape})
		}
		for _, t := range info.Signature.Outputs {
			sig.Outputs = append(sig.Outputs, TensorInfo{Key: t.Key, Tensor: t.Name, DType: t.DType, Shape: t.Shape})
		}
	}
	bo := graph.BuildOptions{Outputs: append(append([]string(nil), info.OutputNames...), o.ExtraOutputs...)}
	if len(sig.Inputs) > 0 {
		for _, t := range sig.Inputs {
			bo.Feeds = append(bo.Feeds, t.Tensor)
		}
	} else {
		bo.Feeds = info.InputNames
	}
	g, err := graph.FromGraphDef(gd, bo)
	if err != nil {
		return nil, err
	}
	for _, n := range g.Nodes {
		if n.Op == "Placeholder" {
			placeholders[n.Name] = n
		}
	}
	if len(sig.Inputs) == 0 {
		for _, name := range info.InputNames {
			ti := TensorInfo{Key: name, Tensor: name}
			if n := placeholders[name]; n != nil {
				ti.DType, _ = n.AttrType("dtype")
				ti.Shape, _ = n.AttrShape("shape")
			}
			sig.Inputs = append(sig.Inputs, ti)
		}
	}
	if len(sig.Outputs) == 0 {
		for _, name := range info.OutputNames {
			sig.Outputs = append(sig.Outputs, TensorInfo{Key: name, Tensor: name})
		}
	}
	sort.Slice(sig.Inputs, func(i, j int) bool { return sig.Inputs[i].Key < sig.Inputs[j].Key })
	sort.Slice(sig.Outputs, func(i, j int) bool { return sig.Outputs[i].Key < sig.Outputs[j].Key })
	m := &Model{Dir: dir, Format: FormatTFJS, Graph: g, Signatures: []SignatureInfo{sig}, Signature: sig}
	var by []string
	for _, s := range []string{info.GeneratedBy, info.ConvertedBy} {
		if s != "" {
			by = append(by, s)
		}
	}
	if len(by) > 0 {
		m.Notes = append(m.Notes, "TF.js graph-model generated by "+strings.Join(by, ", "))
	}
	m.finish()
	return m, nil
}
