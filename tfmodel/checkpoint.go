package tfmodel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tbviz/tbviz/tfmodel/bundle"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// attrSuffix ends the checkpoint key of every variable saved through the
// object graph.
const attrSuffix = "/.ATTRIBUTES/VARIABLE_VALUE"

// LoadCheckpoint returns a copy of m whose variables are re-bound from the
// TF checkpoint at prefix (the path without .index, e.g.
// "train/ckpt-1200"), matching m.Variables' keys to the checkpoint's keys
// after stripping a common object-graph prefix ("model/", "net/", ...
// found automatically), shapes and dtypes checked. m itself is not
// modified.
//
// The checkpoint may come from tf.train.CheckpointManager (keys such as
// "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", beside
// save_counter, the optimizer's iteration count and slots, which are
// ignored) or from Keras' model.save_weights (keys at the root, as in a
// SavedModel's variables/). The object-graph prefix is the one under which
// every variable of m is found; when several are, the root, then "model/",
// is preferred and other ties are an error naming the candidates. Only
// the entries of m's variables are read from the data shards.
//
// The returned model shares m's constants and attributes (both read-only)
// but has its own graph nodes, so m's engines keep computing with m's
// weights. Its Notes say where the weights came from.
func LoadCheckpoint(m *Model, prefix string) (*Model, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("load checkpoint %s: no model graph", prefix)
	}
	if len(m.Variables) == 0 {
		return nil, fmt.Errorf("load checkpoint %s: model %s has no checkpoint-bound variables (only SavedModels' variables can be re-bound)", prefix, m.Dir)
	}
	if err := checkBundleFiles(prefix); err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", prefix, err)
	}
	r, err := bundle.Open(prefix)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", prefix, err)
	}
	defer r.Close()

	root, err := matchRoot(r, m.Variables)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint %s: %w", prefix, err)
	}
	var errs []error
	for _, v := range m.Variables {
		e, _ := r.Entry(root + v.Key)
		if e.DType != v.DType || !tensor.SameShape(e.Shape, v.Shape) {
			errs = append(errs, fmt.Errorf("variable %s (key %q): checkpoint has %v %s, the graph has %v %s",
				v.Node, root+v.Key, e.DType, tensor.ShapeString(e.Shape), v.DType, tensor.ShapeString(v.Shape)))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("load checkpoint %s: %d variable(s) do not match the graph: %w", prefix, len(errs), errors.Join(errs...))
	}
	values := make(map[string]*tensor.Tensor, len(m.Variables))
	for _, v := range m.Variables {
		if _, done := values[v.Key]; done {
			continue
		}
		t, err := r.Read(root + v.Key)
		if err != nil {
			return nil, fmt.Errorf("load checkpoint %s: variable %s: %w", prefix, v.Node, err)
		}
		values[v.Key] = t
	}

	out := *m
	out.Graph = m.Graph.Clone()
	for _, n := range out.Graph.Nodes {
		if n.VarKey == "" || n.Value == nil {
			continue
		}
		if t, ok := values[n.VarKey]; ok {
			n.Value = t
		}
	}
	out.Variables = append([]VariableInfo(nil), m.Variables...)
	out.Signatures = append([]SignatureInfo(nil), m.Signatures...)
	note := fmt.Sprintf("weights from checkpoint %s", prefix)
	if root != "" {
		note += fmt.Sprintf(" (object-graph prefix %q)", root)
	}
	out.Notes = append(append([]string(nil), m.Notes...), note)
	return &out, nil
}

// checkBundleFiles names the missing file when prefix.index or every data
// shard is absent, which bundle.Open would report less directly.
func checkBundleFiles(prefix string) error {
	if st, err := os.Stat(prefix); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory; give the checkpoint prefix, e.g. %s", prefix, filepath.Join(prefix, "ckpt-1"))
	}
	if _, err := os.Stat(prefix + ".index"); err != nil {
		return fmt.Errorf("checkpoint index %s.index: %w", prefix, err)
	}
	shards, _ := filepath.Glob(prefix + ".data-*-of-*")
	if len(shards) == 0 {
		return fmt.Errorf("checkpoint has %s.index but no data shard %s", prefix, bundle.ShardPath(prefix, 0, 1))
	}
	return nil
}

// preferredRoots are object-graph prefixes chosen, in this order, when
// more than one prefix holds every variable.
var preferredRoots = []string{"", "model/", "net/", "network/"}

// matchRoot finds the object-graph prefix under which the checkpoint holds
// every variable's key.
func matchRoot(r *bundle.Reader, vars []VariableInfo) (string, error) {
	keys := r.Keys()
	// Candidate roots: for every checkpoint key that ends with a variable's
	// key at a path boundary, the part before it.
	want := make(map[string]bool, len(vars))
	for _, v := range vars {
		want[v.Key] = true
	}
	hits := map[string]int{}
	for _, k := range keys {
		for i := 0; i <= len(k); i++ {
			if i > 0 && k[i-1] != '/' {
				continue
			}
			if want[k[i:]] {
				hits[k[:i]]++
			}
		}
	}
	var full []string
	best, bestN := "", -1
	for root, n := range hits {
		if n == len(want) {
			full = append(full, root)
		}
		if n > bestN || (n == bestN && root < best) {
			best, bestN = root, n
		}
	}
	sort.Strings(full)
	switch len(full) {
	case 1:
		return full[0], nil
	case 0:
		return "", missingError(r, keys, vars, best, bestN)
	}
	for _, p := range preferredRoots {
		for _, f := range full {
			if f == p {
				return f, nil
			}
		}
	}
	return "", fmt.Errorf("the checkpoint holds every variable of the graph under more than one object-graph prefix (%s); it is ambiguous which one to load", quoteAll(full))
}

// missingError reports the graph's variables absent from the checkpoint
// under the best-matching prefix, with close keys.
func missingError(r *bundle.Reader, keys []string, vars []VariableInfo, root string, n int) error {
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
	}
	var missing []string
	for _, v := range vars {
		if !have[root+v.Key] {
			missing = append(missing, fmt.Sprintf("%s (key %q%s)", v.Node, root+v.Key, closeKeys(keys, root+v.Key)))
		}
	}
	tried := fmt.Sprintf("object-graph prefix %q", root)
	if n <= 0 {
		tried = "no prefix of the checkpoint's keys matched any variable; tried the root"
	}
	const show = 10
	more := ""
	if len(missing) > show {
		more = fmt.Sprintf("; and %d more", len(missing)-show)
		missing = missing[:show]
	}
	return fmt.Errorf("%d of the graph's %d variables are not in the checkpoint (%s; %d checkpoint keys): %s%s",
		len(vars)-max(n, 0), len(vars), tried, len(keys), strings.Join(missing, "; "), more)
}

// closeKeys returns ", close keys: ..." listing up to three variable keys
// of the checkpoint nearest to key by edit distance, or "".
func closeKeys(keys []string, key string) string {
	type cand struct {
		k string
		d int
	}
	var cs []cand
	for _, k := range keys {
		if !strings.HasSuffix(k, attrSuffix) || strings.Contains(k, "/.OPTIMIZER_SLOT/") {
			continue
		}
		if len(cs) > 4096 {
			break // bound the work on huge checkpoints
		}
		cs = append(cs, cand{k, editDistance(k, key)})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for _, c := range cs {
		if len(out) == 3 || c.d > len(key)/3 {
			break
		}
		out = append(out, fmt.Sprintf("%q", c.k))
	}
	if len(out) == 0 {
		return ""
	}
	return ", close keys: " + strings.Join(out, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// stepKeys are the checkpoint keys CheckpointStep looks at, in order.
var stepKeys = []string{
	"step" + attrSuffix,
	"global_step" + attrSuffix,
	"optimizer/iter" + attrSuffix,
	"optimizer/iterations" + attrSuffix,  // Keras 3 optimizers
	"optimizer/_iterations" + attrSuffix, // tf.keras optimizers since 2.11
	"save_counter" + attrSuffix,
	"global_step", // name-based TF1 checkpoints
}

// CheckpointStep reads a step counter from the checkpoint at prefix: the
// first present of "step", "global_step", "optimizer/iter",
// "save_counter" (as ".../.ATTRIBUTES/VARIABLE_VALUE" keys), ok=false if
// none. It also recognises the iteration counters of newer Keras
// optimizers ("optimizer/iterations", "optimizer/_iterations", looked up
// after "optimizer/iter") and the bare "global_step" of name-based TF1
// checkpoints (looked up last). key is the checkpoint key the step was read
// from. The counter must be an integer (or integral float) scalar.
func CheckpointStep(prefix string) (step int64, key string, ok bool, err error) {
	if err := checkBundleFiles(prefix); err != nil {
		return 0, "", false, fmt.Errorf("checkpoint step %s: %w", prefix, err)
	}
	r, err := bundle.Open(prefix)
	if err != nil {
		return 0, "", false, fmt.Errorf("checkpoint step %s: %w", prefix, err)
	}
	defer r.Close()
	for _, k := range stepKeys {
		if _, found := r.Entry(k); !found {
			continue
		}
		t, err := r.Read(k)
		if err != nil {
			return 0, k, false, fmt.Errorf("checkpoint step %s: %w", prefix, err)
		}
		if t.Len() != 1 {
			return 0, k, false, fmt.Errorf("checkpoint step %s: %q is %v%s, expected a scalar", prefix, k, t.DType, tensor.ShapeString(t.Shape))
		}
		switch t.DType {
		case tensor.Int64:
			return t.I64[0], k, true, nil
		case tensor.Int32:
			return int64(t.I32[0]), k, true, nil
		case tensor.Float32, tensor.Float64:
			f := t.Float(0)
			if f != float64(int64(f)) {
				return 0, k, false, fmt.Errorf("checkpoint step %s: %q holds %v, not a whole number", prefix, k, f)
			}
			return int64(f), k, true, nil
		}
		return 0, k, false, fmt.Errorf("checkpoint step %s: %q is %v, expected an integer", prefix, k, t.DType)
	}
	return 0, "", false, nil
}
