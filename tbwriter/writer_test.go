package tbwriter

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	summarypb "github.com/wamuir/graft/tensorflow/core/framework/summary_go_proto"
	typespb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
)

func newTestWriter(t *testing.T, dir string) *Writer {
	t.Helper()
	w, err := NewWriter(dir, &Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// readAll returns every event of a file, failing on any error.
func readAll(t *testing.T, path string) []*Event {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var evs []*Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		evs = append(evs, ev)
	}
}

// testImage is a deterministic image with varied pixels.
func testImage(w, h, seed int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x*7 + seed), uint8(y*13 + seed), uint8((x ^ y) + seed), uint8(255 - x - seed)})
		}
	}
	return m
}

func samePixels(t *testing.T, pngBytes []byte, want image.Image) {
	t.Helper()
	got, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		t.Fatalf("decode PNG: %v", err)
	}
	if got.Bounds().Size() != want.Bounds().Size() {
		t.Fatalf("PNG size %v, want %v", got.Bounds().Size(), want.Bounds().Size())
	}
	b := want.Bounds()
	for y := range b.Dy() {
		for x := range b.Dx() {
			g := color.NRGBAModel.Convert(got.At(got.Bounds().Min.X+x, got.Bounds().Min.Y+y))
			w := color.NRGBAModel.Convert(want.At(b.Min.X+x, b.Min.Y+y))
			if g != w {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, g, w)
			}
		}
	}
}

func TestRoundTripEveryKind(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	imgs := []image.Image{testImage(5, 3, 0), testImage(5, 3, 40)}
	// A sub-image whose bounds do not start at the origin.
	big := testImage(9, 9, 3)
	sub := big.SubImage(image.Rect(2, 3, 7, 6))
	if err := w.Describe("loss", "Training loss", "the **loss**"); err != nil {
		t.Fatal(err)
	}
	var encoded bytes.Buffer
	if err := png.Encode(&encoded, testImage(4, 6, 9)); err != nil {
		t.Fatal(err)
	}
	hist := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	steps := []func() error{
		func() error { return w.Scalar("loss", 0, 1.25) },
		func() error { return w.Scalar("loss", 1, 1e300) },
		func() error { return w.Image("img", 3, imgs...) },
		func() error { return w.Image("sub", 0, sub) },
		func() error { return w.ImagePNG("pre", 2, 4, 6, encoded.Bytes()) },
		func() error { return w.Text("notes", 5, "# Title\n\nsome *markdown* ü") },
		func() error { return w.Histogram("h", 7, hist) },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ld, err := ReadLogdir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ld.Problems) != 0 {
		t.Fatalf("problems: %v", ld.Problems)
	}
	if len(ld.Runs) != 1 || ld.Runs[0].Name != "." {
		t.Fatalf("runs = %+v, want one run named \".\"", ld.Runs)
	}
	run := ld.Runs[0]
	if got := run.Tags(); !slices.Equal(got, []string{"loss", "img", "sub", "pre", "notes", "h"}) {
		t.Errorf("tags = %v", got)
	}
	if len(run.Files) != 1 || run.Files[0].Records != 8 || run.Files[0].FileVersion != FileVersion || run.Files[0].Writer != "tbviz" {
		t.Errorf("files = %+v", run.Files)
	}
	loss := run.Series("loss")
	if len(loss) != 2 || loss[0].Kind != KindScalar || loss[0].Scalar != 1.25 || loss[1].Scalar != 1e300 ||
		loss[0].Plugin != "scalars" || loss[1].Plugin != "scalars" || loss[0].Step != 0 || loss[1].Step != 1 {
		t.Errorf("loss = %+v", loss)
	}
	if loss[0].DisplayName != "Training loss" || loss[0].Description != "the **loss**" {
		t.Errorf("loss metadata: display %q description %q", loss[0].DisplayName, loss[0].Description)
	}
	img := run.Series("img")
	if len(img) != 1 || img[0].Kind != KindImage || img[0].Plugin != "images" || img[0].Step != 3 || len(img[0].Images) != 2 {
		t.Fatalf("img = %+v", img)
	}
	for i, im := range img[0].Images {
		if im.Width != 5 || im.Height != 3 {
			t.Errorf("image %d size %dx%d, want 5x3", i, im.Width, im.Height)
		}
		samePixels(t, im.PNG, imgs[i])
	}
	s := run.Series("sub")[0]
	if s.Images[0].Width != 5 || s.Images[0].Height != 3 {
		t.Errorf("sub-image size %dx%d, want 5x3", s.Images[0].Width, s.Images[0].Height)
	}
	samePixels(t, s.Images[0].PNG, sub)
	pre := run.Series("pre")[0]
	if !bytes.Equal(pre.Images[0].PNG, encoded.Bytes()) || pre.Images[0].Width != 4 || pre.Images[0].Height != 6 {
		t.Errorf("pre-encoded PNG changed: %dx%d", pre.Images[0].Width, pre.Images[0].Height)
	}
	txt := run.Series("notes")[0]
	if txt.Kind != KindText || txt.Plugin != "text" || txt.Text != "# Title\n\nsome *markdown* ü" || txt.Step != 5 {
		t.Errorf("text = %+v", txt)
	}
	h := run.Series("h")[0]
	if h.Kind != KindHistogram || h.Plugin != "histograms" || len(h.Buckets) != DefaultBuckets {
		t.Fatalf("histogram = %+v", h)
	}
	total := 0.0
	for _, b := range h.Buckets {
		total += b.Count
	}
	if total != 11 || h.Buckets[0].Left != 0 || h.Buckets[29].Right != 10 {
		t.Errorf("histogram total %v, edges %v..%v", total, h.Buckets[0].Left, h.Buckets[29].Right)
	}
}

func TestWireFormatMatchesTensorBoard(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	must(t, w.Scalar("s", 1, 2.5))
	must(t, w.Scalar("s", 2, 3.5))
	must(t, w.Image("i", 1, testImage(2, 3, 0)))
	must(t, w.Text("t", 1, "hi"))
	must(t, w.Histogram("h", 1, []float64{1, 2}))
	must(t, w.Close())
	evs := readAll(t, w.Path())
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	type want struct {
		plugin string
		class  summarypb.DataClass
		dtype  typespb.DataType
		shape  []int64
	}
	wants := []want{
		{"scalars", summarypb.DataClass_DATA_CLASS_SCALAR, typespb.DataType_DT_DOUBLE, []int64{}},
		{"", 0, typespb.DataType_DT_DOUBLE, []int64{}},
		{"images", summarypb.DataClass_DATA_CLASS_BLOB_SEQUENCE, typespb.DataType_DT_STRING, []int64{3}},
		{"text", summarypb.DataClass_DATA_CLASS_TENSOR, typespb.DataType_DT_STRING, []int64{}},
		{"histograms", summarypb.DataClass_DATA_CLASS_TENSOR, typespb.DataType_DT_DOUBLE, []int64{30, 3}},
	}
	for i, wt := range wants {
		ev := evs[i+1]
		vals := ev.GetSummary().GetValue()
		if len(vals) != 1 {
			t.Fatalf("event %d: %d values", i+1, len(vals))
		}
		v := vals[0]
		if wt.plugin == "" {
			if v.Metadata != nil {
				t.Errorf("event %d: metadata repeated on a tag's second event: %v", i+1, v.Metadata)
			}
		} else {
			md := v.GetMetadata()
			if md.GetPluginData().GetPluginName() != wt.plugin || md.GetDataClass() != wt.class || len(md.GetPluginData().GetContent()) != 0 {
				t.Errorf("event %d: metadata %v, want plugin %s class %v", i+1, md, wt.plugin, wt.class)
			}
		}
		tp := v.GetTensor()
		if tp.GetDtype() != wt.dtype || !slices.Equal(dimsOf(tp), wt.shape) {
			t.Errorf("event %d: tensor %v %v, want %v %v", i+1, tp.GetDtype(), dimsOf(tp), wt.dtype, wt.shape)
		}
	}
	sv := evs[3].GetSummary().GetValue()[0].GetTensor().GetStringVal()
	if string(sv[0]) != "2" || string(sv[1]) != "3" || !bytes.HasPrefix(sv[2], []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("image tensor strings start %q %q %q", sv[0], sv[1], sv[2][:8])
	}
	if got := evs[1].GetSummary().GetValue()[0].GetTensor().GetDoubleVal(); !slices.Equal(got, []float64{2.5}) {
		t.Errorf("scalar double_val = %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestFirstEventExactFields(t *testing.T) {
	dir := t.TempDir()
	before := float64(time.Now().UnixNano()) / 1e9
	w := newTestWriter(t, dir)
	after := float64(time.Now().UnixNano()) / 1e9
	must(t, w.Scalar("x", 0, 1))
	must(t, w.Close())
	evs := readAll(t, w.Path())
	first := evs[0]
	if first.GetFileVersion() != "brain.Event:2" {
		t.Errorf("file_version = %q", first.GetFileVersion())
	}
	if first.GetSourceMetadata().GetWriter() != "tbviz" {
		t.Errorf("source_metadata.writer = %q", first.GetSourceMetadata().GetWriter())
	}
	if first.WallTime < before-1e-3 || first.WallTime > after+1e-3 {
		t.Errorf("wall_time %f not in [%f, %f]", first.WallTime, before, after)
	}
	if first.Step != 0 || first.GetSummary() != nil {
		t.Errorf("first event has step %d summary %v", first.Step, first.GetSummary())
	}
	for i, ev := range evs {
		if ev.GetSessionLog() != nil {
			t.Errorf("event %d is a SessionLog: %v", i, ev.GetSessionLog())
		}
	}
	if evs[1].WallTime < first.WallTime {
		t.Errorf("second event wall time %f before first %f", evs[1].WallTime, first.WallTime)
	}
}

func TestOutOfOrderStepsKept(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	steps := []int64{5, 2, 9, 2, 0, -3, 7}
	for i, s := range steps {
		must(t, w.Scalar("x", s, float64(i)))
	}
	must(t, w.Close())
	ld, err := ReadLogdir(dir)
	must(t, err)
	got := ld.Runs[0].Series("x")
	if len(got) != len(steps) {
		t.Fatalf("%d values, want %d", len(got), len(steps))
	}
	for i, v := range got {
		if v.Step != steps[i] || v.Scalar != float64(i) {
			t.Errorf("value %d: step %d scalar %v, want step %d scalar %d", i, v.Step, v.Scalar, steps[i], i)
		}
	}
}

var nameRE = regexp.MustCompile(`^events\.out\.tfevents\.(\d{10})\.([^/]+)\.(\d+)\.(\d+)(.*)$`)

func TestFileNamingAndNeverShared(t *testing.T) {
	dir := t.TempDir()
	host, _ := os.Hostname()
	w1, err := NewWriter(dir, &Options{FlushInterval: -1, FilenameSuffix: ".v2"})
	must(t, err)
	w2 := newTestWriter(t, dir)
	if w1.Path() == w2.Path() {
		t.Fatalf("two writers share %s", w1.Path())
	}
	m1 := nameRE.FindStringSubmatch(filepath.Base(w1.Path()))
	m2 := nameRE.FindStringSubmatch(filepath.Base(w2.Path()))
	if m1 == nil || m2 == nil {
		t.Fatalf("names %s, %s do not match %s", w1.Path(), w2.Path(), nameRE)
	}
	if m1[2] != host || m1[3] != fmt.Sprint(os.Getpid()) || m1[5] != ".v2" || m2[5] != "" {
		t.Errorf("name parts %q", m1[1:])
	}
	if ts := m1[1]; time.Since(time.Unix(atoi(ts), 0)) > time.Minute {
		t.Errorf("timestamp %s is not now", ts)
	}
	must(t, w1.Scalar("a", 1, 1))
	must(t, w2.Scalar("b", 1, 2))
	must(t, w1.Close())
	must(t, w2.Close())
	if n := len(readAll(t, w1.Path())); n != 2 {
		t.Errorf("file 1 has %d events", n)
	}
	if n := len(readAll(t, w2.Path())); n != 2 {
		t.Errorf("file 2 has %d events", n)
	}
	if _, err := NewWriter(dir, &Options{FilenameSuffix: "a/b"}); err == nil {
		t.Error("suffix with a slash accepted")
	}
}

func atoi(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}

// A file already carrying the next name (say, from another process with the
// same pid on a shared disk) is left alone; the writer takes the next name.
func TestNeverAppendsToExistingFile(t *testing.T) {
	dir := t.TempDir()
	host, _ := os.Hostname()
	next := fileCounter.Load()
	ts := time.Now().Unix()
	var planted []string
	for _, tt := range []int64{ts, ts + 1} { // the clock may tick between here and NewWriter
		p := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%010d.%s.%d.%d", tt, host, os.Getpid(), next))
		must(t, os.WriteFile(p, []byte("precious"), 0o644))
		planted = append(planted, p)
	}
	w := newTestWriter(t, dir)
	must(t, w.Close())
	for _, p := range planted {
		if p == w.Path() {
			t.Fatalf("writer reused existing file %s", p)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "precious" {
			t.Errorf("existing file %s changed: %q %v", p, b, err)
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir, &Options{FlushInterval: time.Millisecond, BufferSize: 512})
	must(t, err)
	const G, N = 8, 200
	var wg sync.WaitGroup
	for g := range G {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tag := fmt.Sprintf("g%d", g)
			for i := range N {
				var err error
				switch i % 4 {
				case 0, 1:
					err = w.Scalar(tag, int64(i), float64(g*N+i))
				case 2:
					err = w.Text(tag+"/text", int64(i), fmt.Sprint(g*N+i))
				case 3:
					if i%20 == 3 {
						err = w.Flush()
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	must(t, w.Close())
	ld, err := ReadLogdir(dir)
	must(t, err)
	if len(ld.Problems) != 0 {
		t.Fatal(ld.Problems)
	}
	seen := map[string]int{}
	for _, v := range ld.Runs[0].Values {
		key := v.Tag + "@" + fmt.Sprint(v.Step)
		seen[key]++
		if v.Plugin == "" {
			t.Errorf("%s lost its plugin (metadata not on the tag's first event)", key)
		}
		want := float64(0)
		fmt.Sscan(strings.TrimPrefix(v.Tag, "g"), &want)
		if v.Kind == KindScalar && v.Scalar != want*N+float64(v.Step) {
			t.Errorf("%s = %v", key, v.Scalar)
		}
	}
	for g := range G {
		for i := range N {
			tag := fmt.Sprintf("g%d", g)
			switch i % 4 {
			case 2:
				tag += "/text"
			case 3:
				continue
			}
			if n := seen[tag+"@"+fmt.Sprint(i)]; n != 1 {
				t.Errorf("%s step %d present %d times", tag, i, n)
			}
		}
	}
	if len(seen) != G*N*3/4 {
		t.Errorf("%d distinct values, want %d", len(seen), G*N*3/4)
	}
}

func TestNaNAndInfScalarsFaithful(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	negZero := math.Copysign(0, -1)
	vals := []float64{math.NaN(), math.Inf(1), math.Inf(-1), negZero, math.MaxFloat64, math.SmallestNonzeroFloat64}
	for i, v := range vals {
		must(t, w.Scalar("x", int64(i), v))
	}
	must(t, w.Close())
	ld, err := ReadLogdir(dir)
	must(t, err)
	got := ld.Runs[0].Series("x")
	for i, v := range got {
		if math.Float64bits(v.Scalar) != math.Float64bits(vals[i]) {
			t.Errorf("value %d = %v (%#x), want %v (%#x)", i, v.Scalar, math.Float64bits(v.Scalar), vals[i], math.Float64bits(vals[i]))
		}
	}
}

func TestBadInputErrors(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	defer w.Close()
	var encoded bytes.Buffer
	must(t, png.Encode(&encoded, testImage(4, 4, 0)))
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"empty tag scalar", w.Scalar("", 0, 1), "empty tag"},
		{"empty tag image", w.Image("", 0, testImage(2, 2, 0)), "empty tag"},
		{"empty tag text", w.Text("", 0, "x"), "empty tag"},
		{"empty tag histogram", w.Histogram("", 0, nil), "empty tag"},
		{"no images", w.Image("i", 0), "no images"},
		{"nil image", w.Image("i", 0, nil), "image 0 is nil"},
		{"empty image", w.Image("i", 0, image.NewNRGBA(image.Rect(0, 0, 0, 4))), "image 0 is empty (0x4)"},
		{"mismatched sizes", w.Image("i", 0, testImage(3, 3, 0), testImage(3, 4, 0)), "image 1 is 3x4, want 3x3"},
		{"png wrong size", w.ImagePNG("p", 0, 5, 4, encoded.Bytes()), "image 0 is 4x4, want 5x4"},
		{"png garbage", w.ImagePNG("p", 0, 4, 4, []byte("nope")), "image 0 is not a PNG"},
		{"png no images", w.ImagePNG("p", 0, 4, 4), "no images"},
		{"png bad size", w.ImagePNG("p", 0, 0, 4, encoded.Bytes()), "size 0x4"},
		{"bad utf8 tag", w.Scalar("\xff", 0, 1), "not valid UTF-8"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
	// Bad input does not poison the writer, and nothing was written for it.
	must(t, w.Scalar("ok", 0, 1))
	must(t, w.Flush())
	if err := w.Text("ok", 1, "x"); err == nil || !strings.Contains(err.Error(), "holds scalars") {
		t.Errorf("changing a tag's plugin: %v", err)
	}
	if err := w.Describe("ok", "x", "y"); err == nil {
		t.Error("Describe after the tag's first value accepted")
	}
	evs := readAll(t, w.Path())
	if len(evs) != 2 {
		t.Errorf("%d events after rejected input, want 2", len(evs))
	}
}

func TestUnwritableLogdir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	must(t, os.WriteFile(file, nil, 0o644))
	_, err := NewWriter(filepath.Join(file, "logs"), nil)
	if err == nil || !strings.Contains(err.Error(), "create logdir") || !strings.Contains(err.Error(), file) {
		t.Errorf("logdir under a regular file: %v", err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		must(t, os.Mkdir(ro, 0o555))
		if _, err := NewWriter(ro, nil); err == nil || !errors.Is(err, os.ErrPermission) {
			t.Errorf("read-only logdir: %v", err)
		}
	}
}

func TestRemovedLogdirSurfaces(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "logs")
	w := newTestWriter(t, dir)
	must(t, w.Scalar("x", 0, 1))
	must(t, os.RemoveAll(dir))
	must(t, w.Scalar("x", 1, 2)) // buffered: nothing touches the disk yet
	err := w.Flush()
	if err == nil || !strings.Contains(err.Error(), "is gone") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Flush after removing the logdir: %v", err)
	}
	if err2 := w.Scalar("x", 2, 3); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("writer not sticky-failed: %v", err2)
	}
	if err2 := w.Close(); err2 == nil || !strings.Contains(err2.Error(), "is gone") {
		t.Errorf("Close: %v", err2)
	}
	// Close alone (no Flush) must also report it.
	dir2 := filepath.Join(base, "logs2")
	w2 := newTestWriter(t, dir2)
	must(t, w2.Scalar("x", 0, 1))
	must(t, os.RemoveAll(dir2))
	if err := w2.Close(); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("Close after removing the logdir: %v", err)
	}
}

// The background flush discovers the failure; the next call returns it.
func TestBackgroundFlushErrorIsReturned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	w, err := NewWriter(dir, &Options{FlushInterval: time.Millisecond})
	must(t, err)
	must(t, w.Scalar("x", 0, 1))
	must(t, os.RemoveAll(dir))
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := w.Scalar("x", 1, 1)
		if err != nil {
			if !strings.Contains(err.Error(), "is gone") {
				t.Fatalf("error %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background flush never reported the removed logdir")
		}
		time.Sleep(time.Millisecond)
	}
	w.Close()
}

func TestDiskFullIsSticky(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	w := newTestWriter(t, t.TempDir())
	w.mu.Lock()
	w.f.Close()
	w.f = full
	w.bw.Reset(full)
	w.mu.Unlock()
	must(t, w.Scalar("x", 0, 1)) // buffered
	err = w.Flush()
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Flush to a full disk: %v", err)
	}
	if err2 := w.Scalar("x", 1, 1); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("after the failure Scalar returned %v", err2)
	}
	if err2 := w.Flush(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("after the failure Flush returned %v", err2)
	}
	if err2 := w.Close(); err2 == nil || !strings.Contains(err2.Error(), "no space left") {
		t.Errorf("Close returned %v", err2)
	}
}

func TestClosedWriter(t *testing.T) {
	w := newTestWriter(t, t.TempDir())
	must(t, w.Close())
	for name, err := range map[string]error{
		"Scalar":    w.Scalar("x", 0, 1),
		"Image":     w.Image("x", 0, testImage(1, 1, 0)),
		"Text":      w.Text("x", 0, "x"),
		"Histogram": w.Histogram("x", 0, []float64{1}),
		"Flush":     w.Flush(),
		"Close":     w.Close(),
		"Describe":  w.Describe("x", "", ""),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := w.Run("r"); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestRuns(t *testing.T) {
	dir := t.TempDir()
	w := newTestWriter(t, dir)
	for _, bad := range []string{"", ".", "..", "../x", "a/../../x", "/abs"} {
		if _, err := w.Run(bad); err == nil {
			t.Errorf("Run(%q) accepted", bad)
		}
	}
	train, err := w.Run("train")
	must(t, err)
	nested, err := w.Run("eval/cam")
	must(t, err)
	if train.Dir() != filepath.Join(dir, "train") || nested.Dir() != filepath.Join(dir, "eval", "cam") {
		t.Errorf("dirs %s %s", train.Dir(), nested.Dir())
	}
	must(t, w.Scalar("x", 0, 1))
	must(t, train.Scalar("x", 0, 2))
	must(t, nested.Scalar("x", 0, 3))
	must(t, nested.Close())
	must(t, w.Close()) // closes train too
	if err := train.Scalar("x", 1, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("run writer still open after parent Close: %v", err)
	}
	ld, err := ReadLogdir(dir)
	must(t, err)
	var names []string
	for _, r := range ld.Runs {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{".", "eval/cam", "train"}) {
		t.Fatalf("runs %v", names)
	}
	for i, want := range []float64{1, 3, 2} {
		if v := ld.Runs[i].Series("x"); len(v) != 1 || v[0].Scalar != want {
			t.Errorf("run %s: %+v", ld.Runs[i].Name, v)
		}
	}
}

func TestPNGCompressionOption(t *testing.T) {
	m := testImage(64, 64, 0)
	sizes := map[png.CompressionLevel]int{}
	for _, lvl := range []png.CompressionLevel{png.NoCompression, png.BestCompression} {
		dir := t.TempDir()
		w, err := NewWriter(dir, &Options{FlushInterval: -1, PNGCompression: lvl})
		must(t, err)
		must(t, w.Image("i", 0, m))
		must(t, w.Close())
		ld, err := ReadLogdir(dir)
		must(t, err)
		p := ld.Runs[0].Values[0].Images[0].PNG
		samePixels(t, p, m)
		sizes[lvl] = len(p)
	}
	// 64x64 NRGBA stored raw is at least 16 KiB; the gradient compresses well.
	if sizes[png.NoCompression] < 64*64*4 || sizes[png.BestCompression] >= sizes[png.NoCompression]/2 {
		t.Errorf("PNG sizes: none %d, best %d", sizes[png.NoCompression], sizes[png.BestCompression])
	}
}
