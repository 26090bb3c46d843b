package main

import (
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
)

func TestFiltersCommandOnExample(t *testing.T) {
	dir := t.TempDir()
	model, _, _, err := cifar10.Extract(dir)
	if err != nil {
		t.Fatal(err)
	}
	logdir, pngs := filepath.Join(dir, "logs"), filepath.Join(dir, "png")
	out, err := runCLI(t, "filters", "--model", model, "--layer", "conv2d_2", "--channels", "3-4,0", "--steps", "8",
		"--logdir", logdir, "--run", "f", "--png-out", pngs, "--json", "--seed", "2")
	if err != nil {
		t.Fatal(err, out)
	}
	noRootEvents(t, logdir)
	var res filtersJSON
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):strings.LastIndex(out, "}")+1]), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if res.Layer != "sequential/conv2d_2/Relu" || res.Tag != "filters/conv2d_2" || len(res.Units) != 3 || res.Units[2].Channel != 0 {
		t.Fatalf("result: %+v", res)
	}
	for _, u := range res.Units {
		if u.Final <= u.Start || u.Tag != fmt.Sprintf("filters/conv2d_2/ch%04d", u.Channel) {
			t.Errorf("unit %+v", u)
		}
		f, err := os.Open(u.PNG)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 32 {
			t.Errorf("%s: %v, %v", u.PNG, err, img.Bounds())
		}
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	run := ld.Run("f")
	if run == nil {
		t.Fatalf("no run f in %s", logdir)
	}
	tags := strings.Join(run.Tags(), " ")
	for _, want := range []string{"filters/conv2d_2 ", "filters/conv2d_2/ch0003 ", "filters/conv2d_2/ch0000/activation", "filters/conv2d_2/settings"} {
		if !strings.Contains(tags+" ", want) {
			t.Errorf("tag %q missing from %s", want, tags)
		}
	}
	if s := run.Series("filters/conv2d_2/ch0004/activation"); len(s) != 1 {
		t.Errorf("activation scalar: %+v", s)
	}
	for _, bad := range [][]string{
		{"--channels", "5-2"}, {"--regularizers", "sharpen"}, {"--objective", "pixel"}, {"--layer", "nope"}, {"--channels", "0,99", "channel 99 out of range"},
	} {
		args := append([]string{"filters", "--model", model, "--layer", "conv2d_2", "--steps", "1", "--logdir", logdir}, bad[:2]...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), bad[len(bad)-1]) {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}
