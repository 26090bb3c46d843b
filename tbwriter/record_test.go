package tbwriter

import (
	"bytes"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// RFC 3720 (iSCSI) appendix B.4 CRC-32C test vectors.
func TestCRC32CKnownVectors(t *testing.T) {
	asc := make([]byte, 32)
	desc := make([]byte, 32)
	ones := bytes.Repeat([]byte{0xff}, 32)
	for i := range asc {
		asc[i] = byte(i)
		desc[i] = byte(31 - i)
	}
	iscsi := []byte{
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want uint32
	}{
		{"32 zeros", make([]byte, 32), 0x8a9136aa},
		{"32 0xff", ones, 0x62a8ab43},
		{"ascending", asc, 0x46dd794e},
		{"descending", desc, 0x113fdb5c},
		{"iSCSI read PDU", iscsi, 0xd9963a56},
		{"123456789", []byte("123456789"), 0xe3069283},
	} {
		if got := crc32.Checksum(tc.in, castagnoli); got != tc.want {
			t.Errorf("crc32c(%s) = %#08x, want %#08x", tc.name, got, tc.want)
		}
	}
}

// The masked values were computed with an independent bit-by-bit CRC-32C
// (reflected polynomial 0x82f63b78) written in Python.
func TestMaskedCRCKnownValues(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want uint32
	}{
		{nil, 0xa282ead8},
		{[]byte("123456789"), 0xc78ab0e5},
		{make([]byte, 8), 0x07980329},
		{[]byte{24, 0, 0, 0, 0, 0, 0, 0}, 0x224b7fa3},
	} {
		if got := MaskedCRC(tc.in); got != tc.want {
			t.Errorf("MaskedCRC(%x) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
	if got := MaskCRC(0xe3069283); got != 0xc78ab0e5 {
		t.Errorf("MaskCRC(0xe3069283) = %#08x, want 0xc78ab0e5", got)
	}
}

// pyCheck is an independent TFRecord framing checker: it walks the file with
// its own CRC-32C and prints the number of records and the data lengths.
const pyCheck = `
import struct, sys
def crc(b):
    c = 0xFFFFFFFF
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF
def mask(c): return (((c >> 15) | (c << 17)) + 0xa282ead8) & 0xFFFFFFFF
d = open(sys.argv[1], 'rb').read()
i = 0; lens = []
while i < len(d):
    h = d[i:i+8]; (n,) = struct.unpack('<Q', h)
    assert struct.unpack('<I', d[i+8:i+12])[0] == mask(crc(h)), 'length crc at %d' % i
    data = d[i+12:i+12+n]
    assert len(data) == n, 'short data at %d' % i
    assert struct.unpack('<I', d[i+12+n:i+16+n])[0] == mask(crc(data)), 'data crc at %d' % i
    lens.append(n); i += 16 + n
print(len(lens), ' '.join(map(str, lens)))
`

func TestFramingIndependentChecker(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not available for the independent framing check")
	}
	dir := t.TempDir()
	w, err := NewWriter(dir, &Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("a", 1, 0.5); err != nil {
		t.Fatal(err)
	}
	if err := w.Text("t", 2, strings.Repeat("x", 300)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "check.py")
	if err := os.WriteFile(script, []byte(pyCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, w.Path()).CombinedOutput()
	if err != nil {
		t.Fatalf("python checker: %v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	if n, _ := strconv.Atoi(fields[0]); n != 3 {
		t.Fatalf("python checker found %s records, want 3 (%s)", fields[0], out)
	}
	// Cross-check the lengths with our reader.
	r, err := Open(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 1; i < len(fields); i++ {
		before := r.Offset()
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if got := strconv.FormatInt(r.Offset()-before-16, 10); got != fields[i] {
			t.Errorf("record %d: our length %s, python %s", i-1, got, fields[i])
		}
	}
}

func TestAppendRecordMatchesWriteRecord(t *testing.T) {
	data := []byte("hello event")
	rec := appendRecord(nil, data)
	if len(rec) != len(data)+16 {
		t.Fatalf("record length %d, want %d", len(rec), len(data)+16)
	}
	r := NewReader(bytes.NewReader(rec), "mem")
	got, err := r.nextRecord()
	if err != nil || string(got) != string(data) {
		t.Fatalf("nextRecord = %q, %v", got, err)
	}
}
