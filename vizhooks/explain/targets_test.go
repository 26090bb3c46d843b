package explain

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseChoice(t *testing.T) {
	labels := []string{"airplane", "Cat", "top2", "cat"}
	for _, tc := range []struct {
		in   string
		want Choice
		err  string
	}{
		{in: "7", want: Choice{Class: 7}},
		{in: " 0 ", want: Choice{Class: 0}},
		{in: "top1", want: Choice{Top: 1}},
		{in: "TOP3", want: Choice{Top: 3}},
		{in: "airplane", want: Choice{Class: 0}},
		{in: "Cat", want: Choice{Class: 1}},
		{in: "cat", want: Choice{Class: 3}},
		{in: "top2", want: Choice{Class: 2}}, // a label spelled like topK wins
		{in: "AIRPLANE", want: Choice{Class: 0}},
		{in: "CAT", err: "matches labels"},
		{in: "-1", err: "must not be negative"},
		{in: "top0", err: "top1 to top100"},
		{in: "top101", err: "top1 to top100"},
		{in: "topx", err: "top1 to top100"},
		{in: "zebra", err: "not one of the 4 labels"},
		{in: "", err: "empty target"},
	} {
		got, err := ParseChoice(tc.in, labels)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseChoice(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseChoice(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseChoice("dog", nil); err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Errorf("label without labels: %v", err)
	}
	got, err := ParseChoices("3, top3 ,airplane", labels)
	if want := []Choice{{Class: 3}, {Top: 3}, {Class: 0}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseChoices = %v, %v; want %v", got, err, want)
	}
	if _, err := ParseChoices("3,,4", labels); err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Errorf("empty entry: %v", err)
	}
	for _, c := range []Choice{{Top: 3}, {Class: 12}} {
		if back, err := ParseChoice(c.String(), nil); err != nil || back != c {
			t.Errorf("round trip %v: %v, %v", c, back, err)
		}
	}
}

func TestTargetsFor(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		n    int
		want []Choice
		err  string
	}{
		{cfg: Config{}, n: 2, want: []Choice{{Top: 1}, {Top: 1}}},
		{cfg: Config{Class: -1}, n: 1, want: []Choice{{Top: 1}}},
		{cfg: Config{Class: 4}, n: 1, want: []Choice{{Class: 4}}},
		{cfg: Config{Class: 4, Top1: true}, n: 1, want: []Choice{{Top: 1}}},
		{cfg: Config{Targets: []Choice{{Class: 0}}}, n: 2, want: []Choice{{Class: 0}, {Class: 0}}},
		{cfg: Config{Targets: []Choice{{Class: 1}, {Top: 2}}}, n: 2, want: []Choice{{Class: 1}, {Top: 2}}},
		{cfg: Config{Targets: []Choice{{Class: 1}, {Top: 2}}}, n: 3, err: "2 targets for 3 images"},
		{cfg: Config{Targets: []Choice{{Class: -2}}}, n: 1, err: "target 1"},
		{cfg: Config{Targets: []Choice{{Top: 1000}}}, n: 1, err: "Top from 1 to 100"},
	} {
		got, err := targetsFor(tc.cfg, tc.n)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("targetsFor(%+v, %d) = %v, %v; want error %q", tc.cfg, tc.n, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("targetsFor(%+v, %d) = %v, %v; want %v", tc.cfg, tc.n, got, err, tc.want)
		}
	}
}

func TestReadTargetsCSV(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	labels := []string{"airplane", "cat"}
	p := write("ok.csv", "image,class\n# a comment\nimgs/a.png,1\n\n/abs/b.jpg, top3\n\"c d.png\",cat\n")
	images, targets, err := ReadTargetsCSV(p, labels)
	if err != nil {
		t.Fatal(err)
	}
	wantImg := []string{filepath.Join(dir, "imgs/a.png"), "/abs/b.jpg", filepath.Join(dir, "c d.png")}
	wantT := []Choice{{Class: 1}, {Top: 3}, {Class: 1}}
	if !reflect.DeepEqual(images, wantImg) || !reflect.DeepEqual(targets, wantT) {
		t.Errorf("got %v %v, want %v %v", images, targets, wantImg, wantT)
	}
	for name, tc := range map[string]struct{ body, err string }{
		"fields.csv": {"a.png,1\nb.png\n", "fields.csv:2: 1 fields, want 2"},
		"class.csv":  {"a.png,1\nb.png,zebra\n", "class.csv:2: target \"zebra\""},
		"empty.csv":  {"image,class\n", "no rows"},
		"noimg.csv":  {" ,3\n", "empty image path"},
		"quote.csv":  {"\"a.png,1\n", "quote.csv"},
	} {
		_, _, err := ReadTargetsCSV(write(name, tc.body), labels)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.err)
		}
	}
	if _, _, err := ReadTargetsCSV(filepath.Join(dir, "missing.csv"), nil); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseScale(t *testing.T) {
	for in, want := range map[string]Scale{
		"":             {},
		"image":        {},
		"Batch":        {Mode: ScaleBatch},
		"run":          {Mode: ScaleRun},
		"fixed:0,2.5":  {Mode: ScaleFixed, Min: 0, Max: 2.5},
		"fixed:1e-3":   {Mode: ScaleFixed, Min: 0, Max: 1e-3},
		"fixed:-1, 1":  {Mode: ScaleFixed, Min: -1, Max: 1},
		"FIXED:0.5,.7": {Mode: ScaleFixed, Min: 0.5, Max: 0.7},
	} {
		got, err := ParseScale(in)
		if err != nil || got != want {
			t.Errorf("ParseScale(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParseScale(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q via %q: %+v, %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"fixed:", "fixed:2,1", "fixed:1,1", "fixed:0,inf", "fixed:nan", "fixed:a,b", "global", "fixed:-1"} {
		if s, err := ParseScale(in); err == nil {
			t.Errorf("ParseScale(%q) = %+v, want an error", in, s)
		}
	}
	if err := (Scale{Mode: ScaleFixed, Min: 3, Max: 1}).check(); err == nil {
		t.Error("check accepted fixed 3..1")
	}
	if err := (Scale{Mode: 9}).check(); err == nil {
		t.Error("check accepted mode 9")
	}
}

func TestScaleState(t *testing.T) {
	dir := t.TempDir()
	st, err := readScaleState(dir)
	if err != nil || len(st.Scales) != 0 {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	st.Scales["gradcam/l"] = savedScale{Min: 0, Max: 2, Step: 3}
	if err := st.write(dir); err != nil {
		t.Fatal(err)
	}
	back, err := readScaleState(dir)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("read back %+v, %v; want %+v", back, err, st)
	}
	for body, want := range map[string]string{
		"{":             "delete the file",
		`{"version":2}`: "version 2",
		`{"version":1,"scales":{"a":{"min":1,"max":1}}}`: `"a" has range 1,1`,
	} {
		if err := os.WriteFile(filepath.Join(dir, ScaleFile), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readScaleState(dir); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), ScaleFile) {
			t.Errorf("state %s: err = %v, want %q naming the file", body, err, want)
		}
	}
}

func TestSamplesFor(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 0, 10: 0, 11: 20, 20: 20, 21: 50, 50: 50, 51: 100, 130: 200, 999: 1000, 1001: 2000} {
		if got := SamplesFor(n); got != want {
			t.Errorf("SamplesFor(%d) = %d, want %d", n, got, want)
		}
	}
	if got := TensorBoardCommand("runs/viz", 0); got != "tensorboard --logdir runs/viz" {
		t.Errorf("got %q", got)
	}
	if got := TensorBoardCommand("my runs/it's", 20); got != `tensorboard --logdir 'my runs/it'\''s' --samples_per_plugin images=20` {
		t.Errorf("got %q", got)
	}
}

func TestImageNamesAndRanks(t *testing.T) {
	got := imageNames([]string{"a/cat.png", "b/cat.jpg", "dog.png", "c/cat.png", "cat_2.png"})
	want := []string{"cat", "cat_2", "dog", "cat_3", "cat_2_2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("imageNames = %v, want %v", got, want)
	}
	if got := rankOrder([]float64{0.1, 0.5, 0.1, 0.3}); !reflect.DeepEqual(got, []int{3, 1, 4, 2}) {
		t.Errorf("rankOrder = %v", got)
	}
}
