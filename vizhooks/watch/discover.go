package watch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Kind says what an item is.
type Kind string

// Item kinds.
const (
	// SavedModel is a directory with saved_model.pb (or .pbtxt) and its
	// variables/ bundle: a Keras model.save / model.export, a
	// tf.saved_model.save, an Estimator export/<timestamp>.
	SavedModel Kind = "savedmodel"
	// Checkpoint is a TF checkpoint prefix X with X.index and every
	// X.data-K-of-N shard (tf.train.CheckpointManager's ckpt-N, Keras
	// save_weights in TF format). It carries no graph.
	Checkpoint Kind = "checkpoint"
)

// shardName matches a data shard file name and captures the prefix, the
// shard index and the shard count.
var shardName = regexp.MustCompile(`^(.*)\.data-(\d{5})-of-(\d{5})$`)

// file is one file of a candidate, for the stability fingerprint.
type file struct {
	name  string // relative to the item path
	size  int64
	mtime int64
}

// candidate is an item found on disk, complete or not.
type candidate struct {
	rel      string // relative to Config.Dir, '/' separated: the state key
	path     string // absolute
	kind     Kind
	prefix   string // bundle prefix (variables/variables for SavedModels); "" if none
	files    []file
	complete bool   // every file the item needs is there
	missing  string // what is missing when !complete
}

// fingerprint hashes the names, sizes and modification times of the
// candidate's files.
func (c *candidate) fingerprint() string {
	h := fnv.New64a()
	for _, f := range c.files {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", f.name, f.size, f.mtime)
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// skipDir reports directories that are scratch space of the writers
// tbviz watches: TensorFlow's sharded-save temporaries (<prefix>_temp,
// *_temp_<uuid>), Estimator's export/temp-<timestamp>, and hidden
// directories.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "temp-") || strings.HasSuffix(name, "_temp") || strings.Contains(name, "_temp_")
}

// scan walks root and returns every candidate item (complete or not) and
// every directory, sorted by rel. withCheckpoints includes bare TF
// checkpoints. onDir, when set, is called for each directory before it is
// read (fsnotify watches it from then on, so no file created after the
// read goes unnoticed).
func scan(root string, withCheckpoints bool, onDir func(string)) (cands []*candidate, dirs []string, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			// Something vanished or is unreadable mid-walk: look again
			// on the next scan.
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != root && skipDir(d.Name()) {
			return fs.SkipDir
		}
		dirs = append(dirs, p)
		if onDir != nil {
			onDir(p)
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil
		}
		names := map[string]bool{}
		for _, e := range entries {
			if !e.IsDir() {
				names[e.Name()] = true
			}
		}
		if names["saved_model.pb"] || names["saved_model.pbtxt"] {
			if c := savedModelCandidate(root, p, names); c != nil {
				cands = append(cands, c)
			}
			return fs.SkipDir
		}
		if withCheckpoints {
			for n := range names {
				if strings.HasSuffix(n, ".index") {
					cands = append(cands, checkpointCandidate(root, filepath.Join(p, strings.TrimSuffix(n, ".index")), names))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("watch: scan %s: %w", root, err)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].rel < cands[j].rel })
	return cands, dirs, nil
}

func relOf(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

// savedModelCandidate describes the SavedModel directory dir; names are
// its files.
func savedModelCandidate(root, dir string, names map[string]bool) *candidate {
	c := &candidate{rel: relOf(root, dir), path: dir, kind: SavedModel}
	for n := range names {
		addFile(c, dir, n)
	}
	vars := filepath.Join(dir, "variables")
	entries, err := os.ReadDir(vars)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A graph without variables is complete without the directory;
		// a copy in progress gets it within the settle period.
		c.complete = true
	case err != nil:
		c.missing = err.Error()
	default:
		vnames := map[string]bool{}
		for _, e := range entries {
			if !e.IsDir() {
				vnames[e.Name()] = true
				addFile(c, dir, "variables/"+e.Name())
			}
		}
		c.prefix = filepath.Join(vars, "variables")
		c.complete, c.missing = bundleComplete("variables", vnames)
	}
	sortFiles(c)
	return c
}

// checkpointCandidate describes the checkpoint prefix; names are the files
// of its directory.
func checkpointCandidate(root, prefix string, names map[string]bool) *candidate {
	dir, base := filepath.Split(prefix)
	c := &candidate{rel: relOf(root, prefix), path: prefix, kind: Checkpoint, prefix: prefix}
	for n := range names {
		if n == base+".index" || strings.HasPrefix(n, base+".data-") {
			addFile(c, dir, n)
		}
	}
	c.complete, c.missing = bundleComplete(base, names)
	sortFiles(c)
	return c
}

// bundleComplete checks that base.index and every shard base.data-K-of-N,
// K < N, are among names, with one N; a bundle needs at least one shard.
func bundleComplete(base string, names map[string]bool) (bool, string) {
	if !names[base+".index"] {
		return false, base + ".index"
	}
	n := -1
	have := map[int]bool{}
	for name := range names {
		m := shardName.FindStringSubmatch(name)
		if m == nil || m[1] != base {
			continue
		}
		k, _ := strconv.Atoi(m[2])
		cnt, _ := strconv.Atoi(m[3])
		if n >= 0 && cnt != n {
			return false, fmt.Sprintf("%s.data-*: shards disagree on the shard count (%d and %d)", base, n, cnt)
		}
		n = cnt
		have[k] = true
	}
	if n < 0 {
		return false, base + ".data-00000-of-NNNNN"
	}
	for k := range n {
		if !have[k] {
			return false, fmt.Sprintf("%s.data-%05d-of-%05d", base, k, n)
		}
	}
	return true, ""
}

func addFile(c *candidate, dir, name string) {
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		c.files = append(c.files, file{name: name, size: -1})
		return
	}
	c.files = append(c.files, file{name: name, size: st.Size(), mtime: st.ModTime().UnixNano()})
}

func sortFiles(c *candidate) {
	sort.Slice(c.files, func(i, j int) bool { return c.files[i].name < c.files[j].name })
}
