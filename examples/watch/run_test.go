// Package watch_test runs examples/watch/run.sh, a miniature training run
// watched by `tbviz watch`, and checks the logdir it leaves.
package watch_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/tbwriter"
)

// TestRunScript builds tbviz, runs run.sh with three exports, and checks
// that the logdir holds every step once for every tag, both as
// `tbviz events --json` reports it and as tbwriter.ReadLogdir reads it.
func TestRunScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tbviz and runs a script")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tbviz")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/tbviz")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tbviz: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	cmd := exec.Command(bash, "run.sh", work)
	cmd.Env = append(os.Environ(), "TBVIZ="+bin, "N=3", "PAUSE=0.4")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run.sh: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Runs []struct {
			Name    string
			Plugins []struct {
				Plugin string
				Tags   []struct {
					Tag           string
					Values, Steps int
					MinStep       int64 `json:"min_step"`
					MaxStep       int64 `json:"max_step"`
				}
			}
		}
		Corrupt int
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("tbviz events --json: %v\n%s", err, stdout.String())
	}
	tags := 0
	for _, r := range rep.Runs {
		for _, p := range r.Plugins {
			for _, tg := range p.Tags {
				tags++
				if tg.Values != 3 || tg.Steps != 3 || tg.MinStep != 100 || tg.MaxStep != 300 {
					t.Errorf("%s %s: %d values at %d steps in [%d, %d], want 3 at steps 100..300", r.Name, tg.Tag, tg.Values, tg.Steps, tg.MinStep, tg.MaxStep)
				}
			}
		}
	}
	if tags != 3 || rep.Corrupt != 0 {
		t.Errorf("%d tags, %d corrupt records, want 3 tags (panel, prob, summary) and none\n%s", tags, rep.Corrupt, stdout.String())
	}
	ld, err := tbwriter.ReadLogdir(filepath.Join(work, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string][]int64{}
	for _, r := range ld.Runs {
		for _, v := range r.Values {
			steps[v.Tag] = append(steps[v.Tag], v.Step)
		}
	}
	for tag, s := range steps {
		seen := map[int64]int{}
		for _, x := range s {
			seen[x]++
		}
		if len(s) != 3 || seen[100] != 1 || seen[200] != 1 || seen[300] != 1 {
			t.Errorf("%s: steps %v, want 100, 200, 300 once each", tag, s)
		}
	}
	if !strings.Contains(stderr.String(), "export/300 (savedmodel, step 300 from name): written") {
		t.Errorf("watch log lacks export/300:\n%s", stderr.String())
	}
}
