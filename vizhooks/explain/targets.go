package explain

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxTop bounds the k of a top-k target, so that a typo such as "top1000"
// on a large model does not ask for thousands of maps per image.
const MaxTop = 100

// Choice picks the target class or classes of one image. The zero value is
// class 0; Choice{Top: 1} is the image's top-1 prediction.
type Choice struct {
	// Top, when positive, selects the image's Top most probable classes:
	// one map per class and method, tagged by rank (see the package doc).
	Top int
	// Class is the class index, used when Top is 0.
	Class int
}

// String returns the choice in the form ParseChoice reads: "top3" or "7".
func (c Choice) String() string {
	if c.Top > 0 {
		return "top" + strconv.Itoa(c.Top)
	}
	return strconv.Itoa(c.Class)
}

// ParseChoice parses one target: a class index ("7"), "topK" (e.g. "top1",
// "top3"; K from 1 to MaxTop), or a class name from labels (matched
// exactly, then ignoring case when that is unambiguous).
func ParseChoice(s string, labels []string) (Choice, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Choice{}, errors.New("empty target: want a class index, topK or a label name")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return Choice{}, fmt.Errorf("target %q: a class index must not be negative", s)
		}
		return Choice{Class: n}, nil
	}
	if k, ok := strings.CutPrefix(strings.ToLower(s), "top"); ok && k != "" && !inLabels(s, labels) {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > MaxTop {
			return Choice{}, fmt.Errorf("target %q: want top1 to top%d", s, MaxTop)
		}
		return Choice{Top: n}, nil
	}
	for i, l := range labels {
		if l == s {
			return Choice{Class: i}, nil
		}
	}
	hit := -1
	for i, l := range labels {
		if strings.EqualFold(l, s) {
			if hit >= 0 {
				return Choice{}, fmt.Errorf("target %q: matches labels %q and %q (ignoring case); write it as in the labels file", s, labels[hit], l)
			}
			hit = i
		}
	}
	if hit >= 0 {
		return Choice{Class: hit}, nil
	}
	if len(labels) == 0 {
		return Choice{}, fmt.Errorf("target %q: not a class index or topK, and no labels were given to look a class name up", s)
	}
	return Choice{}, fmt.Errorf("target %q: not a class index, not topK, and not one of the %d labels", s, len(labels))
}

func inLabels(s string, labels []string) bool {
	for _, l := range labels {
		if l == s {
			return true
		}
	}
	return false
}

// ParseChoices parses a comma-separated list of targets (see ParseChoice):
// "top1", "cat", "3,7,top1". One entry applies to every image; several
// give one target per image, in image order (Config.Targets).
func ParseChoices(spec string, labels []string) ([]Choice, error) {
	var out []Choice
	for i, part := range strings.Split(spec, ",") {
		c, err := ParseChoice(part, labels)
		if err != nil {
			if strings.Contains(spec, ",") {
				return nil, fmt.Errorf("entry %d of %q: %w", i+1, spec, err)
			}
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// MaxTargetRows bounds the rows of a targets file.
const MaxTargetRows = 1 << 20

// ReadTargetsCSV reads a targets file: CSV rows "image,class", where class
// is anything ParseChoice accepts (an index, topK, a label). An optional
// first row "image,class" is a header. Empty lines and lines starting with
// '#' are skipped. Relative image paths are resolved against the file's
// directory. It returns the images and their targets in file order.
func ReadTargetsCSV(path string, labels []string) (images []string, targets []Choice, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("targets file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	dir := filepath.Dir(path)
	for row := 0; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("targets file %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != 2 {
			return nil, nil, fmt.Errorf("targets file %s:%d: %d fields, want 2: image,class", path, line, len(rec))
		}
		img, cls := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if row == 0 && strings.EqualFold(img, "image") && strings.EqualFold(cls, "class") {
			continue
		}
		if img == "" {
			return nil, nil, fmt.Errorf("targets file %s:%d: empty image path", path, line)
		}
		c, err := ParseChoice(cls, labels)
		if err != nil {
			return nil, nil, fmt.Errorf("targets file %s:%d: %w", path, line, err)
		}
		if len(images) >= MaxTargetRows {
			return nil, nil, fmt.Errorf("targets file %s: more than %d rows", path, MaxTargetRows)
		}
		if !filepath.IsAbs(img) {
			img = filepath.Join(dir, img)
		}
		images = append(images, img)
		targets = append(targets, c)
	}
	if len(images) == 0 {
		return nil, nil, fmt.Errorf("targets file %s: no rows (want image,class lines)", path)
	}
	return images, targets, nil
}

// targetsFor expands cfg's targets to one Choice per path: Config.Targets
// (one entry for all, or one per path), else the deprecated Class and Top1.
func targetsFor(cfg Config, n int) ([]Choice, error) {
	ts := cfg.Targets
	if len(ts) == 0 {
		c := Choice{Top: 1}
		if !cfg.Top1 && cfg.Class > 0 {
			c = Choice{Class: cfg.Class}
		}
		ts = []Choice{c}
	}
	for i, c := range ts {
		if c.Top < 0 || c.Top > MaxTop || (c.Top == 0 && c.Class < 0) {
			return nil, fmt.Errorf("target %d: %+v: want a class index ≥ 0 or Top from 1 to %d", i+1, c, MaxTop)
		}
	}
	if len(ts) == 1 {
		out := make([]Choice, n)
		for i := range out {
			out[i] = ts[0]
		}
		return out, nil
	}
	if len(ts) != n {
		return nil, fmt.Errorf("%d targets for %d images: give one target for all images or exactly one per image, in image order", len(ts), n)
	}
	return ts, nil
}
