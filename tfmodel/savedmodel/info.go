package savedmodel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	corepb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
)

// The export formats Info reports.
const (
	// FormatTF1 is a TF1 SavedModel: no object graph, variables restored
	// by saver ops in the main graph.
	FormatTF1 = "tf1-savedmodel"
	// FormatTF2Keras is a Keras 2 model.save / tf.keras SavedModel.
	FormatTF2Keras = "tf2-keras-savedmodel"
	// FormatKeras3Export is a Keras 3 model.export() SavedModel.
	FormatKeras3Export = "keras3-export"
	// FormatTF2 is any other TF2 SavedModel (tf.saved_model.save).
	FormatTF2 = "tf2-savedmodel"
)

// Info is metadata about a SavedModel's MetaGraph.
type Info struct {
	// TFVersion and TFGitVersion are the TensorFlow version that wrote
	// the model, e.g. "2.8.0" and "v2.8.0-rc1-32-g3f878cff5b6".
	TFVersion, TFGitVersion string
	// Tags are the MetaGraph's tags.
	Tags []string
	// Format is one of the Format constants.
	Format string
	// KerasVersion is the Keras version from keras_metadata.pb, the
	// object graph's inline Keras metadata, or assets/saved_model.json;
	// empty when none is found.
	KerasVersion string
}

// Info returns metadata about mg. Missing or malformed Keras metadata is
// not an error: the field stays empty.
func (m *SavedModel) Info(mg *corepb.MetaGraphDef) Info {
	mi := mg.GetMetaInfoDef()
	info := Info{
		TFVersion:    mi.GetTensorflowVersion(),
		TFGitVersion: mi.GetTensorflowGitVersion(),
		Tags:         append([]string(nil), mi.GetTags()...),
	}
	og := mg.GetObjectGraphDef()
	kerasMeta, _ := readSmall(filepath.Join(m.Dir, "keras_metadata.pb"))
	switch {
	case og == nil || len(og.GetNodes()) == 0:
		info.Format = FormatTF1
	case hasChild(og, "_all_variables"):
		info.Format = FormatKeras3Export
	case kerasMeta != nil || hasKerasObject(og):
		info.Format = FormatTF2Keras
	default:
		info.Format = FormatTF2
	}
	if kerasMeta != nil {
		info.KerasVersion = kerasVersionFromMetadata(kerasMeta)
	}
	if info.KerasVersion == "" && og != nil {
		for _, n := range og.GetNodes() {
			// Keras before TF 2.5 kept its metadata inline, in the field
			// later versions deprecated in favour of keras_metadata.pb.
			//lint:ignore SA1019 reading the legacy location is the point
			if md := n.GetUserObject().GetMetadata(); md != "" {
				if v := jsonKerasVersion([]byte(md)); v != "" {
					info.KerasVersion = v
					break
				}
			}
		}
	}
	if info.KerasVersion == "" {
		if b, _ := readSmall(filepath.Join(m.Dir, "assets", "saved_model.json")); b != nil {
			info.KerasVersion = jsonKerasVersion(b)
		}
	}
	return info
}

// maxMetadata bounds the metadata files read for Info.
const maxMetadata = 64 << 20

func readSmall(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxMetadata {
		return nil, err
	}
	return os.ReadFile(path)
}

func hasChild(og *corepb.SavedObjectGraph, name string) bool {
	for _, c := range og.GetNodes()[0].GetChildren() {
		if c.GetLocalName() == name {
			return true
		}
	}
	return false
}

func hasKerasObject(og *corepb.SavedObjectGraph) bool {
	for _, n := range og.GetNodes() {
		if strings.HasPrefix(n.GetUserObject().GetIdentifier(), "_tf_keras_") {
			return true
		}
	}
	return false
}

func jsonKerasVersion(b []byte) string {
	var v struct {
		KerasVersion string `json:"keras_version"`
	}
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	return v.KerasVersion
}

// kerasVersionFromMetadata reads keras_metadata.pb (Keras's SavedMetadata:
// repeated SavedObject nodes = 1, each with string node_path = 3 and
// string metadata = 5, a JSON document) and returns the root's
// keras_version.
func kerasVersionFromMetadata(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType {
			k := protowire.ConsumeFieldValue(num, typ, b)
			if k < 0 {
				return ""
			}
			b = b[k:]
			continue
		}
		msg, k := protowire.ConsumeBytes(b)
		if k < 0 {
			return ""
		}
		b = b[k:]
		var path, meta []byte
		for len(msg) > 0 {
			fnum, ftyp, k := protowire.ConsumeTag(msg)
			if k < 0 {
				return ""
			}
			msg = msg[k:]
			if ftyp == protowire.BytesType && (fnum == 3 || fnum == 5) {
				v, k := protowire.ConsumeBytes(msg)
				if k < 0 {
					return ""
				}
				if fnum == 3 {
					path = v
				} else {
					meta = v
				}
				msg = msg[k:]
				continue
			}
			k = protowire.ConsumeFieldValue(fnum, ftyp, msg)
			if k < 0 {
				return ""
			}
			msg = msg[k:]
		}
		if string(path) == "root" {
			return jsonKerasVersion(meta)
		}
	}
	return ""
}
