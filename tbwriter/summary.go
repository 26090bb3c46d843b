package tbwriter

import (
	"encoding/binary"
	"math"
	"strconv"

	summarypb "github.com/wamuir/graft/tensorflow/core/framework/summary_go_proto"
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

func scalarTensor(v float64, buf *[1]float64) tensorEnc {
	buf[0] = v
	return tensorEnc{dtype: typespb.DataType_DT_DOUBLE, doubles: buf[:]}
}

func imageTensor(width, height int, pngs [][]byte) tensorEnc {
	sv := make([][]byte, 0, 2+len(pngs))
	sv = append(sv, []byte(strconv.Itoa(width)), []byte(strconv.Itoa(height)))
	sv = append(sv, pngs...)
	return tensorEnc{dtype: typespb.DataType_DT_STRING, ndims: 1, dims: [2]int64{int64(len(sv))}, strs: sv}
}

func textTensor(markdown string) tensorEnc {
	return tensorEnc{dtype: typespb.DataType_DT_STRING, strs: [][]byte{[]byte(markdown)}}
}

func histogramTensor(buckets []Bucket) tensorEnc {
	content := make([]byte, 0, 24*len(buckets))
	for _, b := range buckets {
		content = binary.LittleEndian.AppendUint64(content, math.Float64bits(b.Left))
		content = binary.LittleEndian.AppendUint64(content, math.Float64bits(b.Right))
		content = binary.LittleEndian.AppendUint64(content, math.Float64bits(b.Count))
	}
	return tensorEnc{dtype: typespb.DataType_DT_DOUBLE, ndims: 2, dims: [2]int64{int64(len(buckets)), 3}, content: content}
}
