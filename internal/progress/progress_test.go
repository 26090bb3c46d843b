package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestSilentWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, 10, "work")
	b.Add(5)
	b.Finish()
	if buf.Len() != 0 {
		t.Fatalf("bar on a bytes.Buffer wrote %q; want nothing", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b = New(f, 10, "work")
	b.Add(10)
	b.Finish()
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Fatalf("bar on a regular file wrote %d bytes; want none", fi.Size())
	}
}

func TestNilAndZeroBars(t *testing.T) {
	var nb *Bar
	nb.Add(1)
	nb.Describe("x")
	nb.Finish()
	var zb Bar
	zb.Add(1)
	zb.Finish()
}

func TestForcedDraws(t *testing.T) {
	var buf bytes.Buffer
	b := NewForced(&buf, 4, "maps")
	for i := 0; i < 4; i++ {
		b.Add(1)
	}
	b.Finish()
	if !strings.Contains(buf.String(), "maps") || !strings.Contains(buf.String(), "/4)") {
		t.Fatalf("forced bar output %q lacks the description or the n/4 count", buf.String())
	}
}
