package tbwriter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// sampleFile writes a small event file and returns its bytes and the byte
// offset of each record.
func sampleFile(t testing.TB) ([]byte, []int64) {
	dir := t.TempDir()
	w, err := NewWriter(dir, &Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := w.Scalar("s", int64(i), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Image("img", 0, testImage(3, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Histogram("h", 0, []float64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.Text("t", 0, "x"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := int64(0); off < int64(len(b)); {
		offs = append(offs, off)
		off += 16 + int64(binary.LittleEndian.Uint64(b[off:]))
	}
	return b, offs
}

func readMem(b []byte) (evs []*Event, errs []error) {
	r := NewReader(bytes.NewReader(b), "mem.tfevents")
	for range 1000 {
		ev, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			errs = append(errs, err)
			var ce *CorruptError
			if errors.As(err, &ce) && !ce.Fatal() {
				continue
			}
			return
		}
		evs = append(evs, ev)
	}
	panic("reader did not stop")
}

func TestReaderDataCRCSkipsRecord(t *testing.T) {
	b, offs := sampleFile(t)
	if len(offs) != 8 {
		t.Fatalf("%d records", len(offs))
	}
	bad := bytes.Clone(b)
	bad[offs[2]+12+3] ^= 0x40 // a byte of record 2's data
	evs, errs := readMem(bad)
	if len(evs) != 7 || len(errs) != 1 {
		t.Fatalf("%d events, errors %v; want 7 and one error", len(evs), errs)
	}
	var ce *CorruptError
	if !errors.As(errs[0], &ce) || ce.Kind != DataCRC || ce.Record != 2 || ce.Offset != offs[2] || ce.File != "mem.tfevents" {
		t.Fatalf("error %#v", errs[0])
	}
	msg := errs[0].Error()
	for _, want := range []string{"mem.tfevents", "record 2", fmt.Sprintf("offset %d", offs[2]), "data CRC mismatch"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if evs[2].Step != 2 { // record 3 is step 2 (record 0 is the header)
		t.Errorf("event after the bad record has step %d, want 2", evs[2].Step)
	}
	// The data CRC itself damaged: same report.
	bad = bytes.Clone(b)
	bad[offs[3]-1] ^= 1
	if _, errs := readMem(bad); len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Kind != DataCRC || ce.Record != 2 {
		t.Errorf("damaged data CRC: %v", errs)
	}
}

func TestReaderLengthCRCIsFatal(t *testing.T) {
	b, offs := sampleFile(t)
	bad := bytes.Clone(b)
	bad[offs[5]+9] ^= 1
	r := NewReader(bytes.NewReader(bad), "f")
	n := 0
	var err error
	for {
		if _, err = r.Next(); err != nil {
			break
		}
		n++
	}
	var ce *CorruptError
	if n != 5 || !errors.As(err, &ce) || ce.Kind != LengthCRC || !ce.Fatal() || ce.Offset != offs[5] {
		t.Fatalf("read %d events then %v", n, err)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}
	// A damaged length byte is caught the same way.
	bad = bytes.Clone(b)
	bad[offs[5]+1] ^= 1
	if _, errs := readMem(bad); len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Kind != LengthCRC {
		t.Errorf("damaged length: %v", errs)
	}
}

func TestReaderTruncatedTail(t *testing.T) {
	b, offs := sampleFile(t)
	for _, cut := range []int64{offs[6] + 5, offs[6] + 12, offs[6] + 20, offs[7] - 1} {
		evs, errs := readMem(b[:cut])
		var te *TruncatedError
		if len(evs) != 6 || len(errs) != 1 || !errors.As(errs[0], &te) {
			t.Fatalf("cut at %d: %d events, errors %v", cut, len(evs), errs)
		}
		if te.Record != 6 || te.Offset != offs[6] || te.Have != cut-offs[6] {
			t.Errorf("cut at %d: %+v", cut, te)
		}
		if cut-offs[6] >= 12 && te.Want != offs[7]-offs[6] {
			t.Errorf("cut at %d: want %d, record is %d bytes", cut, te.Want, offs[7]-offs[6])
		}
		if !strings.Contains(te.Error(), "truncated") {
			t.Errorf("message %q", te.Error())
		}
	}
	// A cut exactly between records is a clean end.
	evs, errs := readMem(b[:offs[6]])
	if len(evs) != 6 || len(errs) != 0 {
		t.Errorf("clean cut: %d events, %v", len(evs), errs)
	}
}

func header(length uint64) []byte {
	var h [12]byte
	binary.LittleEndian.PutUint64(h[:], length)
	binary.LittleEndian.PutUint32(h[8:], MaskedCRC(h[:8]))
	return h[:]
}

func TestReaderAbsurdLengths(t *testing.T) {
	_, errs := readMem(header(1 << 62))
	var ce *CorruptError
	if len(errs) != 1 || !errors.As(errs[0], &ce) || ce.Kind != TooLarge {
		t.Fatalf("length 2^62: %v", errs)
	}
	// A plausible but unbacked length: the reader must not allocate it.
	in := append(header(MaxRecordSize-1), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, errs = readMem(in)
	runtime.ReadMemStats(&after)
	var te *TruncatedError
	if len(errs) != 1 || !errors.As(errs[0], &te) || te.Want != MaxRecordSize-1+16 {
		t.Fatalf("unbacked length: %v", errs)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("reading a 112-byte input allocated %d bytes", grew)
	}
}

func TestReadLogdirCollectsProblems(t *testing.T) {
	b, offs := sampleFile(t)
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "b", "c"), 0o755))
	bad := bytes.Clone(b)
	bad[offs[1]+14] ^= 0xff
	must(t, os.WriteFile(filepath.Join(dir, "a", "events.out.tfevents.1.x"), bad, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "a", "events.out.tfevents.2.x"), b[:offs[3]+7], 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "b", "c", "events.out.tfevents.1.x"), b, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "b", "notes.txt"), []byte("not events"), 0o644))
	ld, err := ReadLogdir(dir)
	must(t, err)
	if len(ld.Runs) != 2 || ld.Runs[0].Name != "a" || ld.Runs[1].Name != "b/c" {
		t.Fatalf("runs %+v", ld.Runs)
	}
	if len(ld.Problems) != 2 {
		t.Fatalf("problems %v", ld.Problems)
	}
	if p := ld.Problems[0]; p.File != "a/events.out.tfevents.1.x" || p.IsTruncation() || !strings.Contains(p.Error(), "record 1") {
		t.Errorf("problem 0: %v", p)
	}
	if p := ld.Problems[1]; p.File != "a/events.out.tfevents.2.x" || !p.IsTruncation() {
		t.Errorf("problem 1: %v", p)
	}
	// Run a: file 1 lost step 0 only; file 2 has steps 0 and 1.
	var steps []int64
	for _, v := range ld.Runs[0].Series("s") {
		steps = append(steps, v.Step)
	}
	if fmt.Sprint(steps) != "[1 2 3 0 1]" {
		t.Errorf("run a steps %v", steps)
	}
	// Metadata stripped from later events: the plugin comes from the run.
	for _, v := range ld.Runs[0].Values {
		if v.Plugin == "" {
			t.Errorf("value %s step %d has no plugin", v.Tag, v.Step)
		}
	}
	if len(ld.Runs[1].Values) != 7 {
		t.Errorf("run b/c has %d values", len(ld.Runs[1].Values))
	}
	if _, err := ReadLogdir(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing logdir accepted")
	}
}

// FuzzReader feeds arbitrary bytes to the reader and to the value decoder:
// no panic, bounded work, errors of the documented types.
func FuzzReader(f *testing.F) {
	b, offs := sampleFile(f)
	f.Add(b)
	f.Add(b[:offs[3]+5])
	f.Add(header(1 << 40))
	f.Add(append(header(MaxRecordSize), 1, 2, 3))
	for _, i := range []int64{offs[1] + 2, offs[2] + 9, offs[4] + 20, int64(len(b) - 1)} {
		c := bytes.Clone(b)
		c[i] ^= 0x55
		f.Add(c)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), "fuzz")
		meta := map[string]*summaryMetadata{}
		for range 10000 {
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var ce *CorruptError
				var te *TruncatedError
				switch {
				case errors.As(err, &ce):
					if ce.Fatal() {
						return
					}
					continue
				case errors.As(err, &te):
					return
				default:
					t.Fatalf("unexpected error type %T: %v", err, err)
				}
			}
			for _, v := range ev.GetSummary().GetValue() {
				decodeValue(ev, v, meta)
			}
		}
		t.Fatal("reader did not terminate")
	})
}
