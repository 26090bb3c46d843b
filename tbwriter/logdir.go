package tbwriter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	summarypb "github.com/wamuir/graft/tensorflow/core/framework/summary_go_proto"
	tensorpb "github.com/wamuir/graft/tensorflow/core/framework/tensor_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	eventpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
)

// Logdir is the decoded content of a TensorBoard log directory.
type Logdir struct {
	Dir      string
	Runs     []*Run    // sorted by Name
	Problems []Problem // every problem met, in file order
}

// Run is one TensorBoard run: a directory holding event files.
type Run struct {
	// Name is the directory relative to the logdir, with '/' separators;
	// "." for the logdir itself.
	Name   string
	Files  []File  // sorted by name, which is creation order
	Values []Value // every summary value, in file then record order
}

// File describes one event file of a run.
type File struct {
	Path        string // relative to the logdir, '/' separated
	Records     int    // records read successfully
	FileVersion string // from the file's first event
	Writer      string // source_metadata.writer of the first event
}

// Kind says which payload field of a Value is set.
type Kind int

// Value kinds.
const (
	KindOther     Kind = iota // a plugin this package does not decode
	KindScalar                // Value.Scalar
	KindImage                 // Value.Images
	KindText                  // Value.Text
	KindHistogram             // Value.Buckets
)

func (k Kind) String() string {
	switch k {
	case KindScalar:
		return "scalar"
	case KindImage:
		return "image"
	case KindText:
		return "text"
	case KindHistogram:
		return "histogram"
	}
	return "other"
}

// Value is one summary value of a run, decoded.
type Value struct {
	Tag      string
	Step     int64
	WallTime float64
	// Plugin is the tag's plugin name, from the metadata of the tag's first
	// value in the run (later values usually carry none).
	Plugin      string
	DisplayName string
	Description string
	Kind        Kind
	Scalar      float64  // KindScalar
	Images      []Image  // KindImage
	Text        string   // KindText
	Buckets     []Bucket // KindHistogram
	File        string   // event file, relative to the logdir
}

// Image is one encoded image of an image value.
type Image struct {
	Width, Height int
	PNG           []byte // the encoded image (PNG for files this package writes)
}

// Problem is something wrong found while reading a logdir: a checksum
// error, a truncated tail, an undecodable value. Err is a *CorruptError, a
// *TruncatedError, a *DecodeError or a file system error.
type Problem struct {
	File string // relative to the logdir
	Err  error
}

func (p Problem) Error() string { return p.Err.Error() }

// IsTruncation reports whether the problem is a truncated final record.
func (p Problem) IsTruncation() bool {
	var t *TruncatedError
	return errors.As(p.Err, &t)
}

// DecodeError reports a summary value whose record is intact but whose
// payload does not have the form its plugin expects.
type DecodeError struct {
	File   string
	Record int
	Tag    string
	Step   int64
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: record %d: tag %q step %d: %v", e.File, e.Record, e.Tag, e.Step, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// IsEventFile reports whether a file name is a TensorBoard event file name.
func IsEventFile(name string) bool { return strings.Contains(name, "tfevents") }

// ReadLogdir reads every event file under dir. Each directory holding event
// files is a run. Problems inside files are collected in Logdir.Problems;
// the error is non-nil only when dir itself cannot be walked.
func ReadLogdir(dir string) (*Logdir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("read logdir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("read logdir %s: not a directory", dir)
	}
	ld := &Logdir{Dir: dir}
	byDir := map[string][]string{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			ld.Problems = append(ld.Problems, Problem{File: filepath.ToSlash(rel), Err: err})
			return nil
		}
		if d.Type().IsRegular() && IsEventFile(d.Name()) {
			rel, err := filepath.Rel(dir, filepath.Dir(path))
			if err != nil {
				return err
			}
			byDir[rel] = append(byDir[rel], path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read logdir %s: %w", dir, err)
	}
	names := make([]string, 0, len(byDir))
	for k := range byDir {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		files := byDir[name]
		sort.Strings(files)
		run := &Run{Name: filepath.ToSlash(name)}
		var recs []record
		for _, path := range files {
			rel, _ := filepath.Rel(dir, path)
			rel = filepath.ToSlash(rel)
			recs, ld.Problems = readRunFile(path, rel, run, recs, ld.Problems)
		}
		// A tag's metadata is the first one found in the run, even if an
		// earlier value of the tag lost its own to corruption.
		meta := map[string]*summarypb.SummaryMetadata{}
		for _, rec := range recs {
			for _, v := range rec.ev.GetSummary().GetValue() {
				if _, ok := meta[v.GetTag()]; !ok && v.GetMetadata() != nil {
					meta[v.GetTag()] = v.GetMetadata()
				}
			}
		}
		for _, rec := range recs {
			for _, v := range rec.ev.GetSummary().GetValue() {
				val, err := decodeValue(rec.ev, v, meta)
				if err != nil {
					ld.Problems = append(ld.Problems, Problem{File: rec.file, Err: &DecodeError{
						File: rec.file, Record: rec.index, Tag: v.GetTag(), Step: rec.ev.GetStep(), Err: err}})
					continue
				}
				val.File = rec.file
				run.Values = append(run.Values, val)
			}
		}
		ld.Runs = append(ld.Runs, run)
	}
	return ld, nil
}

// record is one event read from a run's file.
type record struct {
	ev    *Event
	file  string
	index int
}

func readRunFile(path, rel string, run *Run, recs []record, problems []Problem) ([]record, []Problem) {
	r, err := Open(path)
	if err != nil {
		return recs, append(problems, Problem{File: rel, Err: err})
	}
	defer r.Close()
	r.name = rel
	file := File{Path: rel}
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			problems = append(problems, Problem{File: rel, Err: err})
			var ce *CorruptError
			if errors.As(err, &ce) && !ce.Fatal() {
				continue
			}
			break
		}
		if r.index == 1 { // the file's first record
			file.FileVersion = ev.GetFileVersion()
			file.Writer = ev.GetSourceMetadata().GetWriter()
		}
		file.Records++
		recs = append(recs, record{ev: ev, file: rel, index: r.index - 1})
	}
	run.Files = append(run.Files, file)
	return recs, problems
}

// decodeValue decodes one summary value, tensor form or legacy form.
func decodeValue(ev *eventpb.Event, v *summarypb.Summary_Value, meta map[string]*summarypb.SummaryMetadata) (Value, error) {
	out := Value{Tag: v.GetTag(), Step: ev.GetStep(), WallTime: ev.GetWallTime()}
	m, ok := meta[out.Tag]
	if !ok && v.GetMetadata() != nil {
		m = v.GetMetadata()
		meta[out.Tag] = m
	}
	out.Plugin = m.GetPluginData().GetPluginName()
	out.DisplayName = m.GetDisplayName()
	out.Description = m.GetSummaryDescription()
	switch x := v.GetValue().(type) {
	case *summarypb.Summary_Value_SimpleValue:
		out.Kind, out.Scalar = KindScalar, float64(x.SimpleValue)
		if out.Plugin == "" {
			out.Plugin = PluginScalars
		}
	case *summarypb.Summary_Value_Image:
		out.Kind = KindImage
		out.Images = []Image{{Width: int(x.Image.GetWidth()), Height: int(x.Image.GetHeight()), PNG: x.Image.GetEncodedImageString()}}
		if out.Plugin == "" {
			out.Plugin = PluginImages
		}
	case *summarypb.Summary_Value_Histo:
		out.Kind = KindHistogram
		out.Buckets = legacyBuckets(x.Histo)
		if out.Plugin == "" {
			out.Plugin = PluginHistograms
		}
	case *summarypb.Summary_Value_Tensor:
		return decodeTensor(out, x.Tensor)
	}
	return out, nil
}

func decodeTensor(out Value, t *tensorpb.TensorProto) (Value, error) {
	dims := t.GetTensorShape().GetDim()
	switch out.Plugin {
	case PluginScalars:
		if len(dims) != 0 {
			return out, fmt.Errorf("scalar tensor has shape %v, want []", dimsOf(t))
		}
		vals, err := floats(t, 1)
		if err != nil {
			return out, err
		}
		out.Kind, out.Scalar = KindScalar, vals[0]
	case PluginText:
		sv := t.GetStringVal()
		if t.GetDtype() != typespb.DataType_DT_STRING || len(sv) == 0 {
			return out, fmt.Errorf("text tensor: dtype %v with %d strings, want DT_STRING", t.GetDtype(), len(sv))
		}
		// A non-scalar text tensor is shown by TensorBoard as a table; keep
		// the cells one per line.
		parts := make([]string, len(sv))
		for i, s := range sv {
			parts[i] = string(s)
		}
		out.Kind, out.Text = KindText, strings.Join(parts, "\n")
	case PluginImages:
		sv := t.GetStringVal()
		if t.GetDtype() != typespb.DataType_DT_STRING || len(sv) < 2 {
			return out, fmt.Errorf("image tensor: dtype %v with %d strings, want DT_STRING [width, height, png...]", t.GetDtype(), len(sv))
		}
		w, err1 := strconv.Atoi(string(sv[0]))
		h, err2 := strconv.Atoi(string(sv[1]))
		if err1 != nil || err2 != nil || w < 0 || h < 0 {
			return out, fmt.Errorf("image tensor: width %q / height %q are not non-negative integers", sv[0], sv[1])
		}
		out.Kind = KindImage
		for _, p := range sv[2:] {
			out.Images = append(out.Images, Image{Width: w, Height: h, PNG: p})
		}
	case PluginHistograms:
		if len(dims) != 2 || dims[1].GetSize() != 3 || dims[0].GetSize() < 0 {
			return out, fmt.Errorf("histogram tensor has shape %v, want [k, 3]", dimsOf(t))
		}
		if dims[0].GetSize() > MaxRecordSize/24 {
			return out, fmt.Errorf("histogram tensor has %d buckets, more than a record can hold", dims[0].GetSize())
		}
		k := int(dims[0].GetSize())
		vals, err := floats(t, 3*k)
		if err != nil {
			return out, err
		}
		out.Kind = KindHistogram
		out.Buckets = make([]Bucket, k)
		for i := range out.Buckets {
			out.Buckets[i] = Bucket{Left: vals[3*i], Right: vals[3*i+1], Count: vals[3*i+2]}
		}
	}
	return out, nil
}

func dimsOf(t *tensorpb.TensorProto) []int64 {
	d := make([]int64, 0, len(t.GetTensorShape().GetDim()))
	for _, x := range t.GetTensorShape().GetDim() {
		d = append(d, x.GetSize())
	}
	return d
}

// floats returns exactly n values of a float or double tensor, from
// tensor_content or the typed field.
func floats(t *tensorpb.TensorProto, n int) ([]float64, error) {
	var out []float64
	switch t.GetDtype() {
	case typespb.DataType_DT_DOUBLE:
		if c := t.GetTensorContent(); len(c) > 0 {
			if len(c) != 8*n {
				return nil, fmt.Errorf("DT_DOUBLE tensor_content has %d bytes, want %d", len(c), 8*n)
			}
			for i := range n {
				out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(c[8*i:])))
			}
			return out, nil
		}
		out = append(out, t.GetDoubleVal()...)
	case typespb.DataType_DT_FLOAT:
		if c := t.GetTensorContent(); len(c) > 0 {
			if len(c) != 4*n {
				return nil, fmt.Errorf("DT_FLOAT tensor_content has %d bytes, want %d", len(c), 4*n)
			}
			for i := range n {
				out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(c[4*i:]))))
			}
			return out, nil
		}
		for _, f := range t.GetFloatVal() {
			out = append(out, float64(f))
		}
	default:
		return nil, fmt.Errorf("tensor dtype %v, want DT_FLOAT or DT_DOUBLE", t.GetDtype())
	}
	if len(out) != n {
		return nil, fmt.Errorf("tensor has %d values, want %d", len(out), n)
	}
	return out, nil
}

// legacyBuckets converts a HistogramProto (bucket right limits and counts)
// to buckets; the first bucket starts at the histogram's min.
func legacyBuckets(h *summarypb.HistogramProto) []Bucket {
	lim, cnt := h.GetBucketLimit(), h.GetBucket()
	n := min(len(lim), len(cnt))
	out := make([]Bucket, 0, n)
	left := h.GetMin()
	for i := range n {
		out = append(out, Bucket{Left: left, Right: lim[i], Count: cnt[i]})
		left = lim[i]
	}
	return out
}

// Tags returns the run's tags in order of first appearance.
func (r *Run) Tags() []string {
	var tags []string
	seen := map[string]bool{}
	for _, v := range r.Values {
		if !seen[v.Tag] {
			seen[v.Tag] = true
			tags = append(tags, v.Tag)
		}
	}
	return tags
}

// Series returns the values of tag, in file order.
func (r *Run) Series(tag string) []Value {
	var out []Value
	for _, v := range r.Values {
		if v.Tag == tag {
			out = append(out, v)
		}
	}
	return out
}

// Run returns the run called name, or nil.
func (l *Logdir) Run(name string) *Run {
	for _, r := range l.Runs {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// summaryMetadata shortens the generated type's name.
type summaryMetadata = summarypb.SummaryMetadata
