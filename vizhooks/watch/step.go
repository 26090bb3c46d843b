package watch

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// StepSource says where an item's step came from.
type StepSource string

// Step sources, in order of precedence (see the package documentation).
const (
	FromRegex   StepSource = "regex"   // Config.StepRegex matched the item's path
	FromName    StepSource = "name"    // a directory or file name (ckpt-1200, step_1200, epoch_05, export/1699999999)
	FromBundle  StepSource = "bundle"  // a step variable stored in the checkpoint (Config.BundleStep)
	FromCounter StepSource = "counter" // none of the above: the next free number of a persistent counter
)

var (
	// keywordStep matches a step keyword followed by digits, e.g. ckpt-1200,
	// model.ckpt-1200, step_1200, step1200, global_step=7, epoch_05, iter-3.
	keywordStep = regexp.MustCompile(`(?i)(?:^|[^a-z])(?:ckpt|checkpoint|global[-_]?step|steps?|iterations?|iter|epochs?)[-_.=]?(\d+)(?:$|[^0-9])`)
	// allDigits matches a name that is a number, e.g. Estimator's
	// export/1699999999.
	allDigits = regexp.MustCompile(`^(\d+)$`)
	// trailingNumber matches a number after a separator at the end of the
	// innermost name, e.g. cp-0005 (from cp-0005.ckpt) or weights.05.
	trailingNumber = regexp.MustCompile(`[-_.](\d+)$`)
)

// compileStepRegex compiles Config.StepRegex: it must have a group named
// "step" or exactly one capture group.
func compileStepRegex(expr string) (*regexp.Regexp, int, error) {
	if expr == "" {
		return nil, 0, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, 0, fmt.Errorf("watch: StepRegex %q: %w", expr, err)
	}
	if i := re.SubexpIndex("step"); i > 0 {
		return re, i, nil
	}
	if re.NumSubexp() != 1 {
		return nil, 0, fmt.Errorf("watch: StepRegex %q has %d capture groups; want one, or a group named (?P<step>...), capturing the step digits", expr, re.NumSubexp())
	}
	return re, 1, nil
}

// stepFromRegex applies the user's regex to rel (the item's path relative
// to the watched directory, '/' separated).
func stepFromRegex(re *regexp.Regexp, group int, rel string) (int64, bool) {
	if re == nil {
		return 0, false
	}
	m := re.FindStringSubmatch(rel)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[group], 10, 64)
	return n, err == nil && n >= 0
}

// StepFromName returns the step that the path rel (relative to the watched
// directory, '/' separated) names, looking at its components from the
// innermost outwards. In each component it tries, in order: a keyword
// followed by digits (ckpt-1200, model.ckpt-1200, step_1200, epoch_05,
// iter3, global_step=9); a component that is all digits
// (export/1699999999); and, for the innermost component only, a number
// after a final '-', '_' or '.' once a ".ckpt" extension is removed
// (cp-0005.ckpt, weights.05).
func StepFromName(rel string) (int64, bool) {
	parts := strings.Split(path.Clean(rel), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if m := keywordStep.FindStringSubmatch(p); m != nil {
			if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				return n, true
			}
		}
		if m := allDigits.FindStringSubmatch(p); m != nil {
			if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				return n, true
			}
		}
		if i == len(parts)-1 {
			if m := trailingNumber.FindStringSubmatch(strings.TrimSuffix(p, ".ckpt")); m != nil {
				if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
					return n, true
				}
			}
		}
	}
	return 0, false
}
