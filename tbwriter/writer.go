package tbwriter

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	eventpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
	"google.golang.org/protobuf/proto"
)

// FileVersion is the file_version of the first event of every event file.
const FileVersion = "brain.Event:2"

// WriterName is the source_metadata.writer of the first event of files
// written by this package.
const WriterName = "tbviz"

// DefaultFlushInterval is how often buffered events reach the disk when
// Options.FlushInterval is zero.
const DefaultFlushInterval = 2 * time.Second

// defaultBufferSize is the write buffer size when Options.BufferSize is zero.
const defaultBufferSize = 1 << 20

// ErrClosed is returned by every method of a closed Writer.
var ErrClosed = errors.New("tbwriter: writer is closed")

// Options configures a Writer. The zero value is ready to use; a nil
// *Options means the zero value.
type Options struct {
	// FilenameSuffix is appended to the event file name (TensorBoard's
	// filename_suffix), e.g. ".v2".
	FilenameSuffix string
	// FlushInterval is how often a background goroutine writes buffered
	// events to the file and fsyncs it. Zero means DefaultFlushInterval;
	// a negative value disables periodic flushing (only Flush, Close and a
	// full buffer write to the file).
	FlushInterval time.Duration
	// PNGCompression is the zlib level of the PNG encoder used by Image.
	// The zero value is png.DefaultCompression.
	PNGCompression png.CompressionLevel
	// HistogramBuckets is the number of buckets of Histogram; zero means
	// DefaultBuckets.
	HistogramBuckets int
	// BufferSize is the size in bytes of the in-memory write buffer; zero
	// means 1 MiB.
	BufferSize int
}

// Writer writes summaries to one new event file. It is safe for concurrent
// use. Events are buffered and reach the file when the buffer fills, on the
// periodic flush, on Flush and on Close; Flush and Close also fsync.
//
// The first error from the file system (disk full, file or directory removed,
// read-only file system) makes the Writer fail: that call and every later
// one return it.
type Writer struct {
	dir, path string
	opts      Options
	enc       png.Encoder

	mu       sync.Mutex
	f        *os.File
	bw       *bufio.Writer
	seen     map[string]bool   // tags whose metadata was written
	plugin   map[string]string // tag -> plugin, to reject plugin changes
	scratch  []byte            // reused encoding buffer, guarded by mu
	describe map[string][2]string
	runs     []*Writer
	err      error // sticky
	closed   bool

	stop chan struct{}
	done chan struct{}
}

// fileCounter makes file names unique within the process.
var fileCounter atomic.Uint64

// NewWriter creates dir (and its parents) if needed and opens a new event
// file in it. It never appends to an existing file.
func NewWriter(dir string, opts *Options) (*Writer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.HistogramBuckets < 0 {
		return nil, fmt.Errorf("tbwriter: Options.HistogramBuckets is %d, want >= 0", o.HistogramBuckets)
	}
	if o.HistogramBuckets == 0 {
		o.HistogramBuckets = DefaultBuckets
	}
	if o.BufferSize <= 0 {
		o.BufferSize = defaultBufferSize
	}
	if strings.ContainsAny(o.FilenameSuffix, `/\`) || strings.ContainsRune(o.FilenameSuffix, 0) {
		return nil, fmt.Errorf("tbwriter: Options.FilenameSuffix %q must not contain path separators", o.FilenameSuffix)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tbwriter: create logdir %s: %w", dir, err)
	}
	f, path, err := createEventFile(dir, o.FilenameSuffix)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		dir:      dir,
		path:     path,
		opts:     o,
		enc:      png.Encoder{CompressionLevel: o.PNGCompression, BufferPool: &pngPool{}},
		f:        f,
		bw:       bufio.NewWriterSize(f, o.BufferSize),
		seen:     map[string]bool{},
		plugin:   map[string]string{},
		describe: map[string][2]string{},
	}
	now := time.Now()
	first := &eventpb.Event{
		WallTime:       wallTime(now),
		What:           &eventpb.Event_FileVersion{FileVersion: FileVersion},
		SourceMetadata: &eventpb.SourceMetadata{Writer: WriterName},
	}
	data, err := proto.Marshal(first)
	if err == nil {
		err = writeRecord(w.bw, data)
	}
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("tbwriter: write %s: %w", path, err)
	}
	if o.FlushInterval > 0 {
		w.stop = make(chan struct{})
		w.done = make(chan struct{})
		go w.flushLoop(o.FlushInterval)
	}
	return w, nil
}

// createEventFile creates events.out.tfevents.<time>.<host>.<pid>.<n><suffix>
// with O_EXCL, retrying with the next counter value if the name is taken
// (another process with the same pid on a shared file system).
func createEventFile(dir, suffix string) (*os.File, string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, host)
	var lastErr error
	for range 100 {
		name := fmt.Sprintf("events.out.tfevents.%010d.%s.%d.%d%s",
			time.Now().Unix(), host, os.Getpid(), fileCounter.Add(1)-1, suffix)
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, path, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return nil, "", fmt.Errorf("tbwriter: create event file in %s: %w", dir, lastErr)
}

func wallTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Dir returns the directory the Writer writes to.
func (w *Writer) Dir() string { return w.dir }

// Path returns the path of the Writer's event file.
func (w *Writer) Path() string { return w.path }

// Run returns a Writer for the run name: a sub-directory of w's directory
// (TensorBoard shows each directory holding event files as a run). name may
// contain slashes for nested runs but must stay inside the log directory.
// The new Writer has w's options; closing w also closes it.
func (w *Writer) Run(name string) (*Writer, error) {
	if name == "" {
		return nil, errors.New("tbwriter: Run: empty run name")
	}
	local := filepath.FromSlash(name)
	if !filepath.IsLocal(local) || filepath.Clean(local) == "." {
		return nil, fmt.Errorf("tbwriter: Run %q: run name must be a relative path inside the logdir", name)
	}
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	w.mu.Unlock()
	opts := w.opts
	r, err := NewWriter(filepath.Join(w.dir, local), &opts)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usableLocked(); err != nil {
		r.Close()
		return nil, err
	}
	w.runs = append(w.runs, r)
	return r, nil
}

// Describe sets the display name and description (Markdown) TensorBoard
// shows for tag. It must be called before the tag's first value.
func (w *Writer) Describe(tag, displayName, description string) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usableLocked(); err != nil {
		return err
	}
	if w.seen[tag] {
		return fmt.Errorf("tbwriter: Describe %q: tag already has values in %s; describe it before its first value", tag, w.path)
	}
	w.describe[tag] = [2]string{displayName, description}
	return nil
}

func checkTag(tag string) error {
	if tag == "" {
		return errors.New("tbwriter: empty tag")
	}
	if !utf8.ValidString(tag) {
		return fmt.Errorf("tbwriter: tag %q is not valid UTF-8", tag)
	}
	return nil
}

// usableLocked reports ErrClosed or the sticky error.
func (w *Writer) usableLocked() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

// Scalar writes the scalar v for tag at step. NaN and ±Inf are written as
// they are.
func (w *Writer) Scalar(tag string, step int64, v float64) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	var buf [1]float64
	t := scalarTensor(v, &buf)
	return w.write(PluginScalars, tag, step, &t)
}

// Text writes a Markdown string for tag at step.
func (w *Writer) Text(tag string, step int64, markdown string) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	if !utf8.ValidString(markdown) {
		return fmt.Errorf("tbwriter: Text %q step %d: text is not valid UTF-8", tag, step)
	}
	t := textTensor(markdown)
	return w.write(PluginText, tag, step, &t)
}

// Histogram writes the histogram of values for tag at step, bucketed by
// [Buckets] with Options.HistogramBuckets buckets (non-finite values are
// left out).
func (w *Writer) Histogram(tag string, step int64, values []float64) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	t := histogramTensor(Buckets(values, w.opts.HistogramBuckets))
	return w.write(PluginHistograms, tag, step, &t)
}

// Image PNG-encodes imgs (at least one, all of the same non-empty size) and
// writes them as one event for tag at step; TensorBoard shows them as the
// samples of that step.
func (w *Writer) Image(tag string, step int64, imgs ...image.Image) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	if len(imgs) == 0 {
		return fmt.Errorf("tbwriter: Image %q step %d: no images", tag, step)
	}
	var size image.Point
	for i, m := range imgs {
		if m == nil {
			return fmt.Errorf("tbwriter: Image %q step %d: image %d is nil", tag, step, i)
		}
		s := m.Bounds().Size()
		if s.X <= 0 || s.Y <= 0 {
			return fmt.Errorf("tbwriter: Image %q step %d: image %d is empty (%dx%d)", tag, step, i, s.X, s.Y)
		}
		if i == 0 {
			size = s
		} else if s != size {
			return fmt.Errorf("tbwriter: Image %q step %d: image %d is %dx%d, want %dx%d like image 0 (all images of one call must have the same size)",
				tag, step, i, s.X, s.Y, size.X, size.Y)
		}
	}
	if err := w.precheck(); err != nil {
		return err
	}
	pngs := make([][]byte, len(imgs))
	for i, m := range imgs {
		var b bytes.Buffer
		if err := w.enc.Encode(&b, m); err != nil {
			return fmt.Errorf("tbwriter: Image %q step %d: encode image %d: %w", tag, step, i, err)
		}
		pngs[i] = b.Bytes()
	}
	t := imageTensor(size.X, size.Y, pngs)
	return w.write(PluginImages, tag, step, &t)
}

// ImagePNG writes already-encoded PNG images of width x height pixels as one
// event for tag at step. Each PNG's header must match width and height.
func (w *Writer) ImagePNG(tag string, step int64, width, height int, pngs ...[]byte) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	if width <= 0 || height <= 0 {
		return fmt.Errorf("tbwriter: ImagePNG %q step %d: size %dx%d, want positive width and height", tag, step, width, height)
	}
	if len(pngs) == 0 {
		return fmt.Errorf("tbwriter: ImagePNG %q step %d: no images", tag, step)
	}
	for i, p := range pngs {
		cfg, err := png.DecodeConfig(bytes.NewReader(p))
		if err != nil {
			return fmt.Errorf("tbwriter: ImagePNG %q step %d: image %d is not a PNG: %w", tag, step, i, err)
		}
		if cfg.Width != width || cfg.Height != height {
			return fmt.Errorf("tbwriter: ImagePNG %q step %d: image %d is %dx%d, want %dx%d",
				tag, step, i, cfg.Width, cfg.Height, width, height)
		}
	}
	t := imageTensor(width, height, pngs)
	return w.write(PluginImages, tag, step, &t)
}

// precheck returns early for a closed or failed writer, before costly work.
func (w *Writer) precheck() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.usableLocked()
}

// smallEvent is the size below which an event is encoded under the lock
// into a reused buffer (no allocation); larger ones are encoded before
// taking the lock so that concurrent callers do not wait on the copy.
const smallEvent = 4 << 10

// write frames and buffers one summary event. The first event of a tag in
// the file carries the tag's metadata; it is encoded under the lock so that
// no event of the tag can precede it.
func (w *Writer) write(plugin, tag string, step int64, t *tensorEnc) error {
	wall := wallTime(time.Now())
	if size := t.size() + len(tag) + 64; size > MaxRecordSize {
		return fmt.Errorf("tbwriter: %q step %d: event of about %d bytes exceeds the %d-byte record limit", tag, step, size, MaxRecordSize)
	}
	var data []byte
	large := t.size() >= smallEvent
	if large {
		data = appendSummaryEvent(nil, wall, step, tag, nil, t)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usableLocked(); err != nil {
		return err
	}
	first := !w.seen[tag]
	if first {
		if p, ok := w.plugin[tag]; ok && p != plugin {
			return fmt.Errorf("tbwriter: tag %q holds %s in %s; cannot write %s to it", tag, p, w.path, plugin)
		}
		d := w.describe[tag]
		md, err := proto.Marshal(newMetadata(plugin, d[0], d[1]))
		if err != nil {
			return fmt.Errorf("tbwriter: encode metadata of %q: %w", tag, err)
		}
		data = appendSummaryEvent(w.scratch[:0], wall, step, tag, md, t)
	} else if w.plugin[tag] != plugin {
		return fmt.Errorf("tbwriter: tag %q holds %s in %s; cannot write %s to it", tag, w.plugin[tag], w.path, plugin)
	} else if !large {
		data = appendSummaryEvent(w.scratch[:0], wall, step, tag, nil, t)
	}
	if !large || first {
		w.scratch = data
		if cap(w.scratch) > 1<<20 {
			w.scratch = nil // do not pin a large image's buffer
		}
	}
	if err := writeRecord(w.bw, data); err != nil {
		w.err = fmt.Errorf("tbwriter: write %s: %w", w.path, err)
		return w.err
	}
	if first {
		w.seen[tag] = true
		w.plugin[tag] = plugin
		delete(w.describe, tag)
	}
	return nil
}

// Flush writes buffered events to the file, fsyncs it and checks that the
// file is still in place (a removed log directory is an error).
func (w *Writer) Flush() error {
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	err := w.flushLocked()
	w.mu.Unlock()
	return err
}

// flushLocked writes the buffer, fsyncs and checks the path, setting the
// sticky error on failure.
func (w *Writer) flushLocked() error {
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("tbwriter: write %s: %w", w.path, err)
		return w.err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("tbwriter: sync %s: %w", w.path, err)
		return w.err
	}
	if err := w.checkInPlace(); err != nil {
		w.err = err
		return err
	}
	return nil
}

// checkInPlace fails when the event file is no longer reachable at its path
// (its directory was removed or renamed): writes to the open file would
// succeed but be lost.
func (w *Writer) checkInPlace() error {
	st, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("tbwriter: event file %s is gone (was the logdir removed?): %w", w.path, err)
	}
	own, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("tbwriter: stat %s: %w", w.path, err)
	}
	if !os.SameFile(st, own) {
		return fmt.Errorf("tbwriter: event file %s was replaced by another file", w.path)
	}
	return nil
}

func (w *Writer) flushLoop(every time.Duration) {
	defer close(w.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			if w.err == nil && !w.closed {
				w.flushLocked() // a failure is sticky and returned by the next call
			}
			w.mu.Unlock()
		}
	}
}

// Close flushes and fsyncs the event file, closes it, and closes the
// Writers made by Run. It returns the first error met, including a sticky
// error from an earlier failure; later calls to any method return ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.closed = true
	runs := w.runs
	w.runs = nil
	w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.done
	}
	var errs []error
	for _, r := range runs {
		if err := r.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.flushLocked()
	}
	if w.err != nil {
		errs = append(errs, w.err)
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		errs = append(errs, fmt.Errorf("tbwriter: close %s: %w", w.path, err))
	}
	return errors.Join(errs...)
}

// pngPool lets the PNG encoder reuse its buffers across calls.
type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer {
	b, _ := p.p.Get().(*png.EncoderBuffer)
	return b
}

func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }
