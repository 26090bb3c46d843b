package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Status is the outcome of an item recorded in the state file.
type Status string

// Item outcomes.
const (
	// Done: the item's events were published into the logdir.
	Done Status = "done"
	// Failed: processing failed Config.Retries+1 times; the item is tried
	// again only when its files change.
	Failed Status = "failed"
	// Skipped: Config.Every thinned the item out.
	Skipped Status = "skipped"
	// Duplicate: another item already wrote this step.
	Duplicate Status = "duplicate"
	// publishing: events are being moved into the logdir (crash recovery
	// resolves it to Done or to not processed).
	publishing Status = "publishing"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// record is one item's entry in the state file.
type record struct {
	Kind        Kind       `json:"kind"`
	Step        int64      `json:"step"`
	StepSource  StepSource `json:"step_source"`
	Fingerprint string     `json:"fingerprint"`
	Status      Status     `json:"status"`
	// Files are the published event files, relative to the logdir.
	Files []string  `json:"files,omitempty"`
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

// state is the content of the state file.
type state struct {
	Version int `json:"version"`
	// Dir is the watched directory (absolute), to catch a state file
	// reused for another directory.
	Dir string `json:"dir"`
	// Seq numbers published event files, so that their names sort in
	// publication order across restarts.
	Seq int64 `json:"seq"`
	// Items maps an item's path relative to Dir to its outcome.
	Items map[string]*record `json:"items"`
}

// loadState reads the state file at path; a missing file is an empty
// state.
func loadState(path, dir string) (*state, error) {
	s := &state{Version: stateVersion, Dir: dir, Items: map[string]*record{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("watch: state file: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("watch: state file %s: %w (delete it to process every item again)", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("watch: state file %s has version %d; this tbviz reads version %d", path, s.Version, stateVersion)
	}
	if s.Dir != dir {
		return nil, fmt.Errorf("watch: state file %s records directory %s, not %s; use another state file (Config.State, --state) for another directory", path, s.Dir, dir)
	}
	if s.Items == nil {
		s.Items = map[string]*record{}
	}
	return s, nil
}

// save writes the state atomically: a temporary file, fsync, rename, and
// fsync of the directory.
func (s *state) save(path string) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("watch: state file: %w", err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("watch: state file: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}

// usedSteps returns the steps already written (Done items).
func (s *state) usedSteps() map[int64]string {
	used := map[int64]string{}
	for k, r := range s.Items {
		if r.Status == Done || r.Status == publishing {
			used[r.Step] = k
		}
	}
	return used
}
