package explain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tbviz/tbviz/vizhooks/render"
)

// ScaleMode says how raw map values are mapped to the colormap's [0, 1].
type ScaleMode int

// Scale modes.
const (
	// ScaleImage normalises each map by its own minimum and maximum (the
	// default, what CAM tools show): every panel uses the full colormap,
	// whatever the map's magnitude.
	ScaleImage ScaleMode = iota
	// ScaleBatch uses one range per method and layer: the minimum and
	// maximum over the maps of all images and targets of this step, so the
	// panels of one step are comparable.
	ScaleBatch
	// ScaleFixed uses Scale.Min to Scale.Max in the method's raw units
	// (values outside are clipped), for every map of every step.
	ScaleFixed
	// ScaleRun uses, for each method and layer, the range over the batch
	// of the first step that saw it, remembered in the file ScaleFile in
	// the run directory; later steps (later invocations writing to the
	// same run) reuse it, so change over training stays visible. Values
	// outside it are clipped. A first batch whose maps are all equal sets
	// nothing; the next step tries again.
	ScaleRun
)

// ScaleFile is the name of the file, in the run directory, that remembers
// the ranges of ScaleRun.
const ScaleFile = "tbviz-explain-scale.json"

// Scale selects the normalisation of heatmaps. The zero value normalises
// per image. Scale applies to one-channel maps (every CAM, saliency);
// three-channel gradient images (guided backpropagation, guided Grad-CAM,
// deconvnet) are always standardised per image (render.GradientImage).
type Scale struct {
	Mode ScaleMode
	// Min and Max are the raw-unit range of ScaleFixed.
	Min, Max float64
}

// String returns the form ParseScale reads.
func (s Scale) String() string {
	switch s.Mode {
	case ScaleBatch:
		return "batch"
	case ScaleFixed:
		return "fixed:" + strconv.FormatFloat(s.Min, 'g', -1, 64) + "," + strconv.FormatFloat(s.Max, 'g', -1, 64)
	case ScaleRun:
		return "run"
	}
	return "image"
}

// ParseScale parses "image", "batch", "run", "fixed:LO,HI" or "fixed:HI"
// (meaning 0,HI), with LO < HI finite raw map values.
func ParseScale(s string) (Scale, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "image":
		return Scale{}, nil
	case "batch":
		return Scale{Mode: ScaleBatch}, nil
	case "run":
		return Scale{Mode: ScaleRun}, nil
	}
	rest, ok := strings.CutPrefix(strings.ToLower(s), "fixed:")
	if !ok {
		return Scale{}, fmt.Errorf("scale %q: want image, batch, run, fixed:LO,HI or fixed:HI", s)
	}
	lo, hi := "0", rest
	if a, b, ok := strings.Cut(rest, ","); ok {
		lo, hi = a, b
	}
	l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
	sc := Scale{Mode: ScaleFixed, Min: l, Max: h}
	if err1 != nil || err2 != nil || !(render.Scale{Min: l, Max: h}).Valid() {
		return Scale{}, fmt.Errorf("scale %q: want fixed:LO,HI with finite numbers LO < HI (raw map units)", s)
	}
	return sc, nil
}

// check validates a Scale set in a Config.
func (s Scale) check() error {
	switch s.Mode {
	case ScaleImage, ScaleBatch, ScaleRun:
		return nil
	case ScaleFixed:
		if !(render.Scale{Min: s.Min, Max: s.Max}).Valid() {
			return fmt.Errorf("scale fixed:%g,%g: want finite Min < Max", s.Min, s.Max)
		}
		return nil
	}
	return fmt.Errorf("scale mode %d: unknown", s.Mode)
}

// scaleState is the content of ScaleFile.
type scaleState struct {
	Version int `json:"version"`
	// Scales maps "<method>/<layer>" to the remembered range.
	Scales map[string]savedScale `json:"scales"`
}

type savedScale struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Step int64   `json:"step"`
}

// readScaleState reads ScaleFile in dir; a missing file is an empty state.
func readScaleState(dir string) (*scaleState, error) {
	path := filepath.Join(dir, ScaleFile)
	st := &scaleState{Version: 1, Scales: map[string]savedScale{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scale state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("scale state %s: %w (delete the file to start the scales afresh)", path, err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("scale state %s: version %d, want 1", path, st.Version)
	}
	if st.Scales == nil {
		st.Scales = map[string]savedScale{}
	}
	for k, v := range st.Scales {
		if !(render.Scale{Min: v.Min, Max: v.Max}).Valid() {
			return nil, fmt.Errorf("scale state %s: %q has range %g,%g, want finite min < max (delete the entry or the file)", path, k, v.Min, v.Max)
		}
	}
	return st, nil
}

// write stores the state in dir atomically (temporary file and rename).
func (st *scaleState) write(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, ScaleFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("scale state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("scale state: %w", err)
	}
	return nil
}

// rangeOf returns the minimum and maximum of the finite values of maps.
func rangeOf(maps ...[]float32) render.Scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range maps {
		for _, v := range m {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			lo, hi = math.Min(lo, f), math.Max(hi, f)
		}
	}
	return render.Scale{Min: lo, Max: hi}
}
