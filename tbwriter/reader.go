package tbwriter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	eventpb "github.com/wamuir/graft/tensorflow/core/util/event_go_proto"
	"google.golang.org/protobuf/proto"
)

// Event is a tensorflow.Event, as read from or written to an event file.
type Event = eventpb.Event

// TruncatedError reports that a file ends in the middle of a record, as it
// does when its writer was killed mid-write (or is still writing). Every
// record before it was read successfully.
type TruncatedError struct {
	File   string // file name given to the Reader
	Record int    // 0-based index of the incomplete record
	Offset int64  // byte offset where the incomplete record starts
	Have   int64  // bytes of the record present
	Want   int64  // bytes the record needs (0 if its header is incomplete)
}

func (e *TruncatedError) Error() string {
	if e.Want == 0 {
		return fmt.Sprintf("%s: record %d at offset %d: truncated record header (%d of %d bytes)",
			e.File, e.Record, e.Offset, e.Have, headerSize)
	}
	return fmt.Sprintf("%s: record %d at offset %d: truncated record (%d of %d bytes)",
		e.File, e.Record, e.Offset, e.Have, e.Want)
}

// CorruptKind classifies a CorruptError.
type CorruptKind int

// The kinds of corruption a Reader detects.
const (
	// LengthCRC: the record's length field fails its checksum. The framing
	// can no longer be trusted, so the rest of the file is unreadable.
	LengthCRC CorruptKind = iota + 1
	// DataCRC: the record's data fails its checksum. The record is skipped;
	// reading continues with the next one.
	DataCRC
	// TooLarge: the length field exceeds MaxRecordSize. The rest of the file
	// is unreadable.
	TooLarge
	// BadEvent: the data passed its checksum but is not an Event. The
	// record is skipped.
	BadEvent
)

func (k CorruptKind) String() string {
	switch k {
	case LengthCRC:
		return "length CRC mismatch"
	case DataCRC:
		return "data CRC mismatch"
	case TooLarge:
		return "record too large"
	case BadEvent:
		return "undecodable event"
	}
	return fmt.Sprintf("CorruptKind(%d)", int(k))
}

// CorruptError reports a record that fails a checksum or cannot be decoded.
type CorruptError struct {
	File   string
	Record int   // 0-based record index
	Offset int64 // byte offset of the record's start
	Kind   CorruptKind
	Detail string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: record %d at offset %d: %s: %s", e.File, e.Record, e.Offset, e.Kind, e.Detail)
}

// Fatal reports whether reading cannot continue past this error.
func (e *CorruptError) Fatal() bool { return e.Kind == LengthCRC || e.Kind == TooLarge }

// Reader reads the events of one event file in order.
type Reader struct {
	r      *bufio.Reader
	closer io.Closer
	name   string
	index  int
	offset int64
	err    error // sticky: io.EOF, a TruncatedError or a fatal CorruptError
}

// Open opens the event file at path. Close the Reader when done.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tbwriter: %w", err)
	}
	r := NewReader(f, path)
	r.closer = f
	return r, nil
}

// NewReader reads events from r; name identifies it in errors.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), name: name}
}

// Close closes the file opened by Open; it does nothing for NewReader.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c.Close()
}

// Offset returns the byte offset of the next record.
func (r *Reader) Offset() int64 { return r.offset }

// Next returns the next event. At a clean end of file it returns io.EOF.
// A file ending mid-record yields a *TruncatedError; a bad record yields a
// *CorruptError, after which Next continues with the following record unless
// the error is Fatal. After io.EOF, a TruncatedError or a fatal error, Next
// keeps returning that error.
func (r *Reader) Next() (*Event, error) {
	data, err := r.nextRecord()
	if err != nil {
		return nil, err
	}
	ev := &Event{}
	if err := proto.Unmarshal(data, ev); err != nil {
		return nil, &CorruptError{File: r.name, Record: r.index - 1, Offset: r.offset - int64(len(data)) - headerSize - footerSize,
			Kind: BadEvent, Detail: err.Error()}
	}
	return ev, nil
}

// nextRecord reads and checks one record, returning its data.
func (r *Reader) nextRecord() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	start := r.offset
	var hdr [headerSize]byte
	n, err := io.ReadFull(r.r, hdr[:])
	if err != nil {
		return nil, r.fail(n, 0, err)
	}
	length := binary.LittleEndian.Uint64(hdr[:8])
	if got, want := binary.LittleEndian.Uint32(hdr[8:]), MaskedCRC(hdr[:8]); got != want {
		r.err = &CorruptError{File: r.name, Record: r.index, Offset: start, Kind: LengthCRC,
			Detail: fmt.Sprintf("stored %#08x, computed %#08x", got, want)}
		return nil, r.err
	}
	if length > MaxRecordSize {
		r.err = &CorruptError{File: r.name, Record: r.index, Offset: start, Kind: TooLarge,
			Detail: fmt.Sprintf("length %d exceeds the %d-byte limit", length, MaxRecordSize)}
		return nil, r.err
	}
	data, err := readN(r.r, int(length))
	if err != nil {
		return nil, r.fail(headerSize+len(data), headerSize+int64(length)+footerSize, err)
	}
	var ftr [footerSize]byte
	n, err = io.ReadFull(r.r, ftr[:])
	if err != nil {
		return nil, r.fail(headerSize+len(data)+n, headerSize+int64(length)+footerSize, err)
	}
	r.offset += headerSize + int64(length) + footerSize
	r.index++
	if got, want := binary.LittleEndian.Uint32(ftr[:]), MaskedCRC(data); got != want {
		return nil, &CorruptError{File: r.name, Record: r.index - 1, Offset: start, Kind: DataCRC,
			Detail: fmt.Sprintf("stored %#08x, computed %#08x over %d bytes", got, want, length)}
	}
	return data, nil
}

// fail turns a short read into io.EOF (nothing read), a TruncatedError, or
// the underlying read error, and makes it sticky.
func (r *Reader) fail(have int, want int64, err error) error {
	switch {
	case errors.Is(err, io.EOF) && have == 0:
		r.err = io.EOF
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		r.err = &TruncatedError{File: r.name, Record: r.index, Offset: r.offset, Have: int64(have), Want: want}
	default:
		r.err = fmt.Errorf("%s: record %d at offset %d: %w", r.name, r.index, r.offset, err)
	}
	return r.err
}

// readN reads exactly n bytes, growing its buffer as data arrives so that a
// corrupt length cannot force a large allocation for a short input.
func readN(r io.Reader, n int) ([]byte, error) {
	const chunk = 1 << 20
	if n <= chunk {
		buf := make([]byte, n)
		got, err := io.ReadFull(r, buf)
		return buf[:got], err
	}
	buf := make([]byte, 0, chunk)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow geometrically
		}
		end := min(cap(buf), n)
		got, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+got]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
