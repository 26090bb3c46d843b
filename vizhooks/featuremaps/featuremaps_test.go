package featuremaps

import (
	"context"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	attrpb "github.com/wamuir/graft/tensorflow/core/framework/attr_value_go_proto"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel/graph"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/render"
)

// scaleGraph builds input [B, h, w, 1] → "mul" = input · k (k[ch] = gain,
// broadcast to c channels) → "add" = mul + bias. So channel ch of "add" at
// pixel j is x_j·k[ch] + bias[ch], which the tests compute on their own.
func scaleGraph(t testing.TB, h, w int, k, bias []float32) *native.Engine {
	t.Helper()
	c := len(k)
	f32 := graph.TypeAttr(tensor.Float32)
	shape := &attrpb.AttrValue{Value: &attrpb.AttrValue_Shape{Shape: tensor.ShapeProto([]int{-1, h, w, 1})}}
	in := &graph.Node{Name: "input", Op: "Placeholder", NumOutputs: 1, Attrs: map[string]*attrpb.AttrValue{"dtype": f32, "shape": shape}}
	kn := &graph.Node{Name: "k", Op: "Const", NumOutputs: 1, Value: tensor.FromFloat32(k, c), Attrs: map[string]*attrpb.AttrValue{"dtype": f32}}
	bn := &graph.Node{Name: "bias", Op: "Const", NumOutputs: 1, Value: tensor.FromFloat32(bias, c), Attrs: map[string]*attrpb.AttrValue{"dtype": f32}}
	mul := &graph.Node{Name: "mul", Op: "Mul", NumOutputs: 1, Inputs: []graph.Endpoint{in.Output(0), kn.Output(0)}, Attrs: map[string]*attrpb.AttrValue{"T": f32}}
	add := &graph.Node{Name: "add", Op: "AddV2", NumOutputs: 1, Inputs: []graph.Endpoint{mul.Output(0), bn.Output(0)}, Attrs: map[string]*attrpb.AttrValue{"T": f32}}
	g, err := graph.New([]*graph.Node{in, kn, bn, mul, add})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := native.New(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

func randomInputs(b, h, w int, seed uint64) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	x := tensor.New(tensor.Float32, b, h, w, 1)
	for i := range x.F32 {
		x.F32[i] = float32(r.Float64())
	}
	return x
}

func TestParseChannels(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Channels
	}{
		{"", Channels{}},
		{"all", Channels{}},
		{"first:8", Channels{Mode: First, N: 8}},
		{"top: 3", Channels{Mode: Top, N: 3}},
		{"0,5,7-9", Channels{Mode: List, List: []int{0, 5, 7, 8, 9}}},
		{"4", Channels{Mode: List, List: []int{4}}},
	} {
		got, err := ParseChannels(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseChannels(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if c.in != "" && c.in != "top: 3" {
			if again, _ := ParseChannels(got.String()); !reflect.DeepEqual(again, got) {
				t.Errorf("%q: String %q parses to %+v", c.in, got.String(), again)
			}
		}
	}
	for _, bad := range []string{"first:0", "top:x", "first:", "3,a", "9-7", "-1", "0-99999999"} {
		if _, err := ParseChannels(bad); err == nil || !strings.Contains(err.Error(), "channels") {
			t.Errorf("ParseChannels(%q): err = %v", bad, err)
		}
	}
}

func TestSelect(t *testing.T) {
	// 2 pixels × 4 channels; channel means: 1, 5, -2, 5.
	act := []float32{1, 4, -2, 6, 1, 6, -2, 4}
	for _, c := range []struct {
		sel  Channels
		want []int
	}{
		{Channels{}, []int{0, 1, 2, 3}},
		{Channels{Mode: First, N: 2}, []int{0, 1}},
		{Channels{Mode: First, N: 9}, []int{0, 1, 2, 3}},
		{Channels{Mode: Top, N: 3}, []int{1, 3, 0}}, // a tie keeps the lower index first
		{Channels{Mode: List, List: []int{3, 0}}, []int{3, 0}},
	} {
		got, err := c.sel.Select(act, 4)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %v %v, want %v", c.sel, got, err, c.want)
		}
	}
	if _, err := (Channels{Mode: List, List: []int{1, 4}}).Select(act, 4); err == nil || !strings.Contains(err.Error(), "channel 4 (entry 2) out of range") {
		t.Errorf("out-of-range list: %v", err)
	}
	// NaN means sort last.
	got, err := Channels{Mode: Top, N: 2}.Select([]float32{float32(math.NaN()), 0, 1}, 3)
	if err != nil || !reflect.DeepEqual(got, []int{2, 1}) {
		t.Errorf("NaN: %v %v", got, err)
	}
}

// TestGridTiling checks the tiling and counts for 1, 3, 64 and 1280
// channels through Compute: number of pages, tiles per page, page size,
// and that every tile shows its channel (a fixed scale and a linear
// colormap let each pixel be decoded back to the activation).
func TestGridTiling(t *testing.T) {
	const h, w = 2, 3
	for _, c := range []struct{ channels, pages, lastTiles int }{
		{1, 1, 1}, {3, 1, 3}, {64, 1, 64}, {1280, 20, 64},
	} {
		n := c.channels
		k, bias := make([]float32, n), make([]float32, n)
		for ch := range n {
			k[ch], bias[ch] = 1, float32(ch) // channel ch = x + ch
		}
		eng := scaleGraph(t, h, w, k, bias)
		x := randomInputs(2, h, w, uint64(n))
		res, err := Compute(context.Background(), eng, "input", []string{"add"}, x, Config{Scale: render.Scale{Min: 0, Max: float64(n)}, Colormap: exactMap{}})
		if err != nil {
			t.Fatal(err)
		}
		l := res.Layers[0]
		if l.Name != "add" || !reflect.DeepEqual(l.Activations.Shape, []int{2, h, w, n}) || len(l.Images) != 2 {
			t.Fatalf("%d channels: layer %s %v, %d images", n, l.Name, l.Activations.Shape, len(l.Images))
		}
		for i, m := range l.Images {
			if len(m.Pages) != c.pages || len(m.Channels) != n {
				t.Fatalf("%d channels image %d: %d pages and %d channels, want %d and %d", n, i, len(m.Pages), len(m.Channels), c.pages, n)
			}
			// 2×3 maps enlarged ×11 to 22×33 tiles; 4 px padding; 15 px captions.
			const th, tw = 22, 33
			for p, pg := range m.Pages {
				tiles := min(64, n-64*p)
				if p == len(m.Pages)-1 && tiles != c.lastTiles {
					t.Fatalf("%d channels: last page has %d tiles, want %d", n, tiles, c.lastTiles)
				}
				cols := int(math.Ceil(math.Sqrt(float64(tiles))))
				rows := (tiles + cols - 1) / cols
				want := image.Pt(4+cols*(tw+4), 4+rows*(15+th+4))
				if pg.Bounds().Size() != want {
					t.Fatalf("%d channels page %d: %v, want %v", n, p, pg.Bounds().Size(), want)
				}
				// The tile's top-left pixel shows pixel 0 of its channel.
				for tile := 0; tile < tiles; tile += max(1, tiles/7) {
					ch := 64*p + tile
					x0, y0 := 4+(tile%cols)*(tw+4), 4+(tile/cols)*(15+th+4)+15
					got := decode24(pg.(*image.RGBA).RGBAAt(x0+1, y0+1)) * float64(n)
					v := float64(x.F32[i*h*w]) + float64(ch)
					if math.Abs(got-v) > 1e-3 {
						t.Fatalf("%d channels image %d page %d tile %d: shows %.4f, want %.4f (channel %d)", n, i, p, tile, got, v, ch)
					}
				}
			}
		}
	}
}

// exactMap encodes v ∈ [0, 1] in 24 bits of RGB, so tests can read values
// back from pixels.
type exactMap struct{}

func (exactMap) At(v float64) color.RGBA {
	u := uint32(math.Round(math.Max(0, math.Min(1, v)) * (1<<24 - 1)))
	return color.RGBA{uint8(u >> 16), uint8(u >> 8), uint8(u), 255}
}

func decode24(c color.RGBA) float64 {
	return float64(uint32(c.R)<<16|uint32(c.G)<<8|uint32(c.B)) / (1<<24 - 1)
}

// TestTopAndWrite fetches two layers in one pass with a top-N selection,
// checks the choice against a naive ranking of channel means, writes the
// result and reads the logdir back.
func TestTopAndWrite(t *testing.T) {
	const h, w, n = 4, 4, 10
	r := rand.New(rand.NewPCG(3, 4))
	k, bias := make([]float32, n), make([]float32, n)
	for ch := range n {
		k[ch], bias[ch] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	eng := scaleGraph(t, h, w, k, bias)
	x := randomInputs(3, h, w, 9)
	res, err := Compute(context.Background(), eng, "input", []string{"mul", "add"}, x, Config{Channels: Channels{Mode: Top, N: 4}, PageSize: 3, Normalize: PerLayer})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layers) != 2 || res.Layers[0].Name != "mul" || res.Layers[1].Name != "add" {
		t.Fatalf("layers: %+v", res.Layers)
	}
	for li, l := range res.Layers {
		for i, m := range l.Images {
			// Naive: the mean of channel ch over the image's pixels.
			means := make([]float64, n)
			for j := range h * w {
				for ch := range n {
					v := float64(x.F32[i*h*w+j]) * float64(k[ch])
					if li == 1 {
						v += float64(bias[ch])
					}
					means[ch] += v / (h * w)
					if a := float64(l.Activations.F32[(i*h*w+j)*n+ch]); math.Abs(a-v) > 1e-5 {
						t.Fatalf("%s image %d pixel %d channel %d: activation %g, want %g", l.Name, i, j, ch, a, v)
					}
				}
			}
			order := seq(n)
			sort.Slice(order, func(a, b int) bool { return means[order[a]] > means[order[b]] })
			if !reflect.DeepEqual(m.Channels, order[:4]) {
				t.Errorf("%s image %d: top-4 %v, want %v (means %v)", l.Name, i, m.Channels, order[:4], means)
			}
			if len(m.Pages) != 2 {
				t.Errorf("%s image %d: %d pages for 4 tiles at 3 a page", l.Name, i, len(m.Pages))
			}
		}
	}

	dir := t.TempDir()
	wr, err := tbwriter.NewWriter(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Write(wr, 7, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := res.Write(wr, 8, []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), "2 image names for 3 images") {
		t.Errorf("short names: %v", err)
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	ld, err := tbwriter.ReadLogdir(dir)
	if err != nil || len(ld.Problems) > 0 {
		t.Fatal(err, ld.Problems)
	}
	got := map[string]tbwriter.Value{}
	for _, v := range ld.Runs[0].Values {
		got[v.Tag] = v
	}
	for _, l := range []string{"mul", "add"} {
		for _, im := range []string{"a", "b", "c"} {
			for _, p := range []string{"/p0", "/p1"} {
				v, ok := got["featuremaps/"+l+"/"+im+p]
				if !ok || v.Kind != tbwriter.KindImage || v.Step != 7 || len(v.Images) != 1 {
					t.Errorf("tag featuremaps/%s/%s%s: %+v", l, im, p, v)
				}
			}
		}
		hist, ok := got["activations/"+l]
		if !ok || hist.Kind != tbwriter.KindHistogram {
			t.Fatalf("no histogram for %s", l)
		}
		total := 0.0
		for _, b := range hist.Buckets {
			total += b.Count
		}
		if total != 3*h*w*n {
			t.Errorf("activations/%s counts %g values, want %d", l, total, 3*h*w*n)
		}
	}
	if len(got) != 2*3*2+2 {
		t.Errorf("%d tags written, want 14: %v", len(got), got)
	}
	if tags := Tags("l", "i", 1); !reflect.DeepEqual(tags, []string{"featuremaps/l/i"}) {
		t.Errorf("single-page tag %v", tags)
	}
}

func TestComputeErrors(t *testing.T) {
	eng := scaleGraph(t, 2, 2, []float32{1, 2}, []float32{0, 0})
	x := randomInputs(1, 2, 2, 1)
	ctx := context.Background()
	for _, c := range []struct {
		layers []string
		images *tensor.Tensor
		cfg    Config
		want   string
	}{
		{[]string{"k"}, x, Config{}, "layer k outputs float32(2,); need a 4-D"},
		{[]string{"nope"}, x, Config{}, "nope"},
		{nil, x, Config{}, "no layers"},
		{[]string{" "}, x, Config{}, "layer 1 has an empty name"},
		{[]string{"add"}, tensor.New(tensor.Float32, 2, 2), Config{}, "images must be a [B, H, W, C] batch"},
		{[]string{"add"}, x, Config{Channels: Channels{Mode: List, List: []int{5}}}, "layer add: channels: channel 5 (entry 1) out of range: the layer has 2 channels"},
		{[]string{"add"}, x, Config{PageSize: -1}, "tiles per page"},
	} {
		_, err := Compute(ctx, eng, "input", c.layers, c.images, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.layers, err, c.want)
		}
	}
	if _, err := Compute(ctx, nil, "input", []string{"add"}, x, Config{}); err == nil {
		t.Error("nil engine accepted")
	}
}
