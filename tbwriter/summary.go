package tbwriter

import (
	"encoding/binary"
	"math"
	"strconv"

	summarypb "github.com/wamuir/graft/tensorflow/core/framework/summary_go_proto"
	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
)

// Plugin names, as TensorBoard's plugins register them.
const (
	PluginScalars    = "scalars"
	PluginImages     = "images"
	PluginText       = "text"
	PluginHistograms = "histograms"
)

// pluginDataClass is the data class TensorBoard's summary_v2 ops declare for
// each plugin.
var pluginDataClass = map[string]summarypb.DataClass{
	PluginScalars:    summarypb.DataClass_DATA_CLASS_SCALAR,
	PluginImages:     summarypb.DataClass_DATA_CLASS_BLOB_SEQUENCE,
	PluginText:       summarypb.DataClass_DATA_CLASS_TENSOR,
	PluginHistograms: summarypb.DataClass_DATA_CLASS_TENSOR,
}

// newMetadata builds the SummaryMetadata of a tag. The plugin content is
// empty: every plugin's PluginData message is at version 0, which serializes
// to zero bytes.
func newMetadata(plugin, displayName, description string) *summarypb.SummaryMetadata {
	return &summarypb.SummaryMetadata{
		PluginData:         &summarypb.SummaryMetadata_PluginData{PluginName: plugin},
		DisplayName:        displayName,
		SummaryDescription: description,
		DataClass:          pluginDataClass[plugin],
	}
}

func shape(dims ...int64) *shapepb.TensorShapeProto {
	s := &shapepb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	return s
}

func tensorValue(tag string, t *tensorpb.TensorProto) *summarypb.Summary_Value {
	return &summarypb.Summary_Value{Tag: tag, Value: &summarypb.Summary_Value_Tensor{Tensor: t}}
}

func scalarValue(tag string, v float64) *summarypb.Summary_Value {
	return tensorValue(tag, &tensorpb.TensorProto{
		Dtype:       typespb.DataType_DT_DOUBLE,
		TensorShape: &shapepb.TensorShapeProto{},
		DoubleVal:   []float64{v},
	})
}

func imageValue(tag string, width, height int, pngs [][]byte) *summarypb.Summary_Value {
	sv := make([][]byte, 0, 2+len(pngs))
	sv = append(sv, []byte(strconv.Itoa(width)), []byte(strconv.Itoa(height)))
	sv = append(sv, pngs...)
	return tensorValue(tag, &tensorpb.TensorProto{
		Dtype:       typespb.DataType_DT_STRING,
		TensorShape: shape(int64(len(sv))),
		StringVal:   sv,
	})
}

func textValue(tag, markdown string) *summarypb.Summary_Value {
	return tensorValue(tag, &tensorpb.TensorProto{
		Dtype:       typespb.DataType_DT_STRING,
		TensorShape: &shapepb.TensorShapeProto{},
		StringVal:   [][]byte{[]byte(markdown)},
	})
}

func histogramValue(tag string, buckets []Bucket) *summarypb.Summary_Value {
	content := make([]byte, 0, 24*len(buckets))
	for _, b := range buckets {
		content = binary.LittleEndian.AppendUint64(content, math.Float64bits(b.Left))
		content = binary.LittleEndian.AppendUint64(content, math.Float64bits(b.Right))
		content = binary.LittleEndian.AppendUint64(content, math.Float64bits(b.Count))
	}
	return tensorValue(tag, &tensorpb.TensorProto{
		Dtype:         typespb.DataType_DT_DOUBLE,
		TensorShape:   shape(int64(len(buckets)), 3),
		TensorContent: content,
	})
}
