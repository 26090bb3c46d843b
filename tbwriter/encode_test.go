package tbwriter

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"

	summarypb "github.com/wamuir/graft/tensorflow/core/framework/summary_go_proto"
	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	shapepb "github.com/wamuir/graft/tensorflow/core/framework/tensor_shape_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	eventpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
	"google.golang.org/protobuf/proto"
)

// The reference builders below construct the same values with the
// generated protobuf types; the hand encoder must produce bytes that decode
// to exactly these messages.

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

func TestHandEncodingMatchesGeneratedProtos(t *testing.T) {
	md, err := proto.Marshal(newMetadata(PluginImages, "disp", "desc"))
	if err != nil {
		t.Fatal(err)
	}
	pngs := [][]byte{[]byte("\x89PNG fake 1"), make([]byte, 300)}
	buckets := Buckets([]float64{1, 2, 3, 10}, 4)
	var one, two, three [1]float64
	cases := []struct {
		name string
		tag  string
		step int64
		meta bool
		enc  tensorEnc
		ref  *summarypb.Summary_Value
	}{
		{"scalar", "loss", 7, false, scalarTensor(-2.5, &one), scalarValue("loss", -2.5)},
		{"scalar step 0", "a/b", 0, true, scalarTensor(math.Inf(-1), &two), scalarValue("a/b", math.Inf(-1))},
		{"negative step", "x", -5, false, scalarTensor(1, &three), scalarValue("x", 1)},
		{"image", "img", 1 << 40, true, imageTensor(640, 480, pngs), imageValue("img", 640, 480, pngs)},
		{"text", "t", 3, false, textTensor("# hi ü"), textValue("t", "# hi ü")},
		{"histogram", "h", 9, false, histogramTensor(buckets), histogramValue("h", buckets)},
		{"empty histogram", "h", 9, false, histogramTensor(nil), histogramValue("h", nil)},
	}
	for _, c := range cases {
		var mdBytes []byte
		if c.meta {
			c.ref.Metadata = newMetadata(PluginImages, "disp", "desc")
			mdBytes = md
		}
		got := appendSummaryEvent([]byte("prefix"), 1234.5, c.step, c.tag, mdBytes, &c.enc)
		if string(got[:6]) != "prefix" {
			t.Fatalf("%s: prefix clobbered", c.name)
		}
		var ev eventpb.Event
		if err := proto.Unmarshal(got[6:], &ev); err != nil {
			t.Fatalf("%s: unmarshal: %v", c.name, err)
		}
		want := &eventpb.Event{WallTime: 1234.5, Step: c.step,
			What: &eventpb.Event_Summary{Summary: &summarypb.Summary{Value: []*summarypb.Summary_Value{c.ref}}}}
		if !proto.Equal(&ev, want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, &ev, want)
		}
		// Same size as the generated marshaller: no stray or missing fields.
		if ref, _ := proto.Marshal(want); len(ref) != len(got)-6 {
			t.Errorf("%s: %d bytes, generated code gives %d", c.name, len(got)-6, len(ref))
		}
	}
}
