package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/examples/cifar10"
	"github.com/tbviz/tbviz/tbwriter"
)

func TestFeaturemapsOnExample(t *testing.T) {
	dir := t.TempDir()
	model, images, _, err := cifar10.Extract(dir)
	if err != nil {
		t.Fatal(err)
	}
	logdir, pngs := filepath.Join(dir, "logs"), filepath.Join(dir, "png")
	// conv2d has 32 channels (30x30), conv2d_2 64 (4x4): top:12 at 9 a page
	// gives 2 pages per image and layer.
	out, err := runCLI(t, "featuremaps", "--model", model, "--images", images[0]+","+images[1], "--layer", "conv2d,conv2d_2",
		"--channels", "top:12", "--page-size", "9", "--colormap", "viridis", "--normalize", "layer",
		"--logdir", logdir, "--run", "fm", "--step", "3", "--png-out", pngs, "--json")
	if err != nil {
		t.Fatal(err, out)
	}
	noRootEvents(t, logdir)
	var res struct {
		Layers []featuremapsLayerJSON `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(res.Layers) != 2 || res.Layers[0].Layer != "sequential/conv2d/Relu" || res.Layers[1].Layer != "sequential/conv2d_2/Relu" ||
		res.Layers[0].Shape[2] != 32 || res.Layers[1].Shape[2] != 64 {
		t.Fatalf("layers: %+v", res.Layers)
	}
	wantTags := map[string]bool{}
	for _, l := range res.Layers {
		if len(l.Images) != 2 {
			t.Fatalf("%s: %d images", l.Layer, len(l.Images))
		}
		for _, im := range l.Images {
			if len(im.Channels) != 12 || len(im.Tags) != 2 || len(im.PNGs) != 2 || !strings.HasSuffix(im.Tags[1], "/p1") {
				t.Errorf("%s %s: %+v", l.Layer, im.Image, im)
			}
			for _, p := range im.PNGs {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := png.Decode(f); err != nil {
					t.Errorf("%s: %v", p, err)
				}
				f.Close()
			}
			for _, tag := range im.Tags {
				wantTags[tag] = true
			}
		}
		wantTags["activations/"+l.Layer] = true
	}
	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	var run *tbwriter.Run
	for _, r := range ld.Runs {
		if r.Name == "fm" {
			run = r
		} else if len(r.Values) > 0 {
			t.Errorf("run %s has %d values", r.Name, len(r.Values))
		}
	}
	if run == nil {
		t.Fatalf("no run fm in %+v", ld.Runs)
	}
	for _, v := range run.Values {
		if !wantTags[v.Tag] || v.Step != 3 {
			t.Errorf("unexpected value %s at step %d", v.Tag, v.Step)
		}
		delete(wantTags, v.Tag)
	}
	if len(wantTags) != 0 {
		t.Errorf("tags not written: %v", wantTags)
	}
	if !strings.Contains(res.Layers[0].Images[0].Tags[0], "featuremaps/sequential/conv2d/Relu/chelsea/p0") {
		t.Errorf("tag %s", res.Layers[0].Images[0].Tags[0])
	}

	// The default layer is the suggested one; the text output names the
	// tensorboard command.
	out, err = runCLI(t, "featuremaps", "--model", model, "--images", images[0], "--logdir", logdir, "--channels", "first:3")
	if err != nil || !strings.Contains(out, "sequential/conv2d_2/Relu (4, 4, 64): 3 channels shown") || !strings.Contains(out, "view with: tensorboard --logdir "+logdir) {
		t.Errorf("default layer: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--layer", "dense"}, "need a 4-D"},
		{[]string{"--layer", "conv2d", "--channels", "3,40"}, "channel 40 (entry 2) out of range: the layer has 32 channels"},
		{[]string{"--channels", "top:x"}, "--channels"},
		{[]string{"--normalize", "image"}, "--normalize"},
		{[]string{"--colormap", "rainbow"}, "--colormap"},
		{[]string{"--page-size", "0"}, "--page-size 0"},
		{[]string{"--layer", "nosuchlayer"}, "--layer nosuchlayer"},
	} {
		args := append([]string{"featuremaps", "--model", model, "--images", images[0], "--logdir", logdir}, c.args...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}
