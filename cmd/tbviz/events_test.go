package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tbwriter"
)

// writeEventsLogdir writes a logdir with every summary kind in two runs and
// returns the path of the root run's event file.
func writeEventsLogdir(t *testing.T, dir string) string {
	t.Helper()
	w, err := tbwriter.NewWriter(dir, &tbwriter.Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []int64{4, 0, 2, 2} {
		if err := w.Scalar("loss", step, 1); err != nil {
			t.Fatal(err)
		}
	}
	run, err := w.Run("cam/gradcam")
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 8, 4))
	for _, err := range []error{
		run.Image("heat", 3, img, img),
		run.Image("heat", 5, img),
		run.Histogram("acts", 1, []float64{1, 2, 3}),
		run.Text("notes", 0, "hello"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Path()
}

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	err := app.Run(append([]string{"tbviz"}, args...))
	return out.String(), err
}

func TestEventsText(t *testing.T) {
	dir := t.TempDir()
	writeEventsLogdir(t, dir)
	out, err := runApp(t, "events", dir)
	if err != nil {
		t.Fatalf("events: %v\n%s", err, out)
	}
	for _, want := range []string{
		"2 run(s), 0 problem(s)",
		`run ".": 1 file(s), 5 record(s)`,
		`run "cam/gradcam": 1 file(s), 5 record(s)`,
		"brain.Event:2",
		"  scalars\n",
		"loss  4 value(s)  3 step(s)  steps 0..4",
		"  images\n",
		"heat  2 value(s)  2 step(s)  steps 3..5  8x4, up to 2 per step",
		"acts  1 value(s)  1 step(s)  step 1  30 buckets",
		"  text\n",
		"notes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestEventsJSONAndCorruption(t *testing.T) {
	dir := t.TempDir()
	path := writeEventsLogdir(t, dir)
	for _, args := range [][]string{{"events", "--json", dir}, {"events", dir, "--json"}} {
		out, err := runApp(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var rep eventsReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, out)
		}
		if len(rep.Runs) != 2 || rep.Runs[0].Name != "." || rep.Runs[1].Name != "cam/gradcam" || rep.Corrupt != 0 || len(rep.Problems) != 0 {
			t.Fatalf("report %+v", rep)
		}
		loss := rep.Runs[0].Plugins[0]
		if loss.Plugin != "scalars" || loss.Tags[0].Tag != "loss" || loss.Tags[0].Values != 4 || loss.Tags[0].Steps != 3 ||
			loss.Tags[0].MinStep != 0 || loss.Tags[0].MaxStep != 4 {
			t.Errorf("scalars %+v", loss)
		}
		var plugins []string
		for _, p := range rep.Runs[1].Plugins {
			plugins = append(plugins, p.Plugin)
			if p.Plugin == "images" {
				tg := p.Tags[0]
				if tg.Tag != "heat" || tg.MaxImages != 2 || len(tg.ImageSizes) != 1 || tg.ImageSizes[0] != "8x4" {
					t.Errorf("images %+v", tg)
				}
			}
			if p.Plugin == "histograms" && p.Tags[0].Buckets != 30 {
				t.Errorf("histograms %+v", p.Tags[0])
			}
		}
		if strings.Join(plugins, ",") != "histograms,images,text" {
			t.Errorf("plugins %v", plugins)
		}
		if f := rep.Runs[0].Files[0]; f.Records != 5 || f.Writer != "tbviz" || f.FileVersion != "brain.Event:2" {
			t.Errorf("file %+v", f)
		}
	}

	// Corrupt record 2's data and truncate the file: exit error, both reported.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for range 2 {
		off += 16 + int(binary.LittleEndian.Uint64(b[off:]))
	}
	b[off+14] ^= 0xff
	b = b[:len(b)-3]
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runApp(t, "events", "--json", dir)
	if err == nil || !strings.Contains(err.Error(), "1 corrupt record") {
		t.Fatalf("corrupt logdir: err %v", err)
	}
	var rep eventsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.Corrupt != 1 || len(rep.Problems) != 2 {
		t.Fatalf("problems %+v", rep.Problems)
	}
	p := rep.Problems[0]
	if p.Kind != "crc" || p.Record == nil || *p.Record != 2 || p.Offset == nil || *p.Offset != int64(off) ||
		p.File != filepath.Base(path) || !strings.Contains(p.Message, "data CRC mismatch") {
		t.Errorf("crc problem %+v", p)
	}
	if rep.Problems[1].Kind != "truncated" || *rep.Problems[1].Record != 4 {
		t.Errorf("truncation problem %+v", rep.Problems[1])
	}
	text, err := runApp(t, "events", dir)
	if err == nil || !strings.Contains(text, "[crc]") || !strings.Contains(text, "[truncated]") {
		t.Errorf("text output with problems (err %v):\n%s", err, text)
	}

	// Only a truncated tail: reported, not an error.
	dir2 := t.TempDir()
	path2 := writeEventsLogdir(t, dir2)
	b2, _ := os.ReadFile(path2)
	os.WriteFile(path2, b2[:len(b2)-1], 0o644)
	if out, err := runApp(t, "events", dir2); err != nil || !strings.Contains(out, "[truncated]") {
		t.Errorf("truncated-only logdir: err %v\n%s", err, out)
	}
}

func TestEventsBadArgs(t *testing.T) {
	if _, err := runApp(t, "events"); err == nil {
		t.Error("no LOGDIR accepted")
	}
	if _, err := runApp(t, "events", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing LOGDIR accepted")
	}
}
