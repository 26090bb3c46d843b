package explain

import (
	"fmt"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
)

// TensorBoardImageSamples is how many steps of each image tag TensorBoard
// keeps by default (its reservoir for the images plugin); older steps are
// sampled away unless --samples_per_plugin raises it.
const TensorBoardImageSamples = 10

// MaxImageSteps reads the event files under dir (tbwriter.ReadLogdir) and
// returns the largest number of distinct steps of any image tag of any
// run, with that run (relative to dir, "." for dir itself) and tag.
func MaxImageSteps(dir string) (n int, run, tag string, err error) {
	ld, err := tbwriter.ReadLogdir(dir)
	if err != nil {
		return 0, "", "", err
	}
	for _, r := range ld.Runs {
		steps := map[string]map[int64]bool{}
		for _, v := range r.Values {
			if v.Kind != tbwriter.KindImage {
				continue
			}
			s := steps[v.Tag]
			if s == nil {
				s = map[int64]bool{}
				steps[v.Tag] = s
			}
			s[v.Step] = true
		}
		for t, s := range steps {
			if len(s) > n || (len(s) == n && (r.Name < run || r.Name == run && t < tag)) {
				n, run, tag = len(s), r.Name, t
			}
		}
	}
	return n, run, tag, nil
}

// SamplesFor returns the --samples_per_plugin images=N value to show n
// steps of an image tag: n rounded up to 1, 2 or 5 times a power of ten
// (11 → 20, 23 → 50, 130 → 200), leaving room for the next steps; 0 when
// n fits TensorBoard's default of TensorBoardImageSamples.
func SamplesFor(n int) int {
	if n <= TensorBoardImageSamples {
		return 0
	}
	for p := 10; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		if p > 1<<40 {
			return n
		}
	}
}

// TensorBoardCommand returns the shell command that shows logdir, with
// --samples_per_plugin images=N when samples is positive (see SamplesFor).
func TensorBoardCommand(logdir string, samples int) string {
	cmd := "tensorboard --logdir " + shellQuote(logdir)
	if samples > 0 {
		cmd += fmt.Sprintf(" --samples_per_plugin images=%d", samples)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./:=+,@%.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
