package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/native"
	"github.com/tbviz/tbviz/tfmodel/native/gemm"
	"github.com/urfave/cli/v2"
)

// engineSpec builds an engine for a loaded model. Engine files register one
// in engines from an init function (engine_tensorflow.go does, under the
// build tag "tensorflow"), and append their lines to engineLines for
// `tbviz version`.
type engineSpec struct {
	// New builds the engine; device is the --device flag ("" = default).
	New func(m *tfmodel.Model, device string) (engine.Engine, error)
	// Usage is a one-line description for --help.
	Usage string
}

var engines = map[string]engineSpec{
	"native": {
		New: func(m *tfmodel.Model, device string) (engine.Engine, error) {
			if device != "" && !strings.EqualFold(device, "cpu") {
				return nil, fmt.Errorf("--device %q: the native engine runs on the CPU only (use --engine tensorflow for GPUs)", device)
			}
			return native.New(m.Graph, nil)
		},
		Usage: "pure-Go engine (default)",
	},
}

func init() {
	engineLines = append(engineLines, func() string { return "engine native: pure Go, CPU (" + gemm.Backend() + " GEMM)" })
}

// engineNames lists the engines compiled into this binary.
func engineNames() []string {
	var names []string
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// engineFlags are the --engine and --device flags of every command that
// runs a model.
func engineFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "engine", Value: "native", Usage: "execution engine: " + strings.Join(engineNames(), ", ")},
		&cli.StringFlag{Name: "device", Usage: "device for the engine, e.g. cpu or /GPU:0 (tensorflow engine)"},
		&cli.StringFlag{Name: "signature", Usage: "signature `NAME` to load (default serving_default; Keras 3 exports also have serve)"},
	}
}

// loadOptions returns the tfmodel.LoadOptions of the --signature flag
// (nil when it is not set or the command has no such flag).
func loadOptions(c *cli.Context) *tfmodel.LoadOptions {
	if sig := c.String("signature"); sig != "" {
		return &tfmodel.LoadOptions{Signature: sig}
	}
	return nil
}

// loadModel loads a model directory (with the --signature flag's
// signature, when set) and builds the engine
// the --engine and --device flags select; every command that runs a model
// starts here.
func loadModel(c *cli.Context, dir string) (*tfmodel.Model, engine.Engine, error) {
	name := c.String("engine")
	if name == "" {
		name = "native"
	}
	spec, ok := engines[name]
	if !ok {
		return nil, nil, fmt.Errorf("--engine %q: not in this binary (have %s; the tensorflow engine needs a build with -tags tensorflow)", name, strings.Join(engineNames(), ", "))
	}
	m, err := tfmodel.Load(dir, loadOptions(c))
	if err != nil {
		if sig := c.String("signature"); sig != "" {
			return nil, nil, fmt.Errorf("--signature %s: %w", sig, err)
		}
		return nil, nil, err
	}
	eng, err := spec.New(m, c.String("device"))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s engine: %w", dir, name, err)
	}
	return m, eng, nil
}

// runDir returns the run directory --run inside logdir (logdir itself
// when run is empty), refusing a run that leaves the logdir.
func runDir(logdir, run string) (string, error) {
	if run == "" {
		return logdir, nil
	}
	local := filepath.FromSlash(run)
	if !filepath.IsLocal(local) {
		return "", fmt.Errorf("--run %q: must be a relative path inside the logdir", run)
	}
	return filepath.Join(logdir, local), nil
}

// runWriter opens an event writer in runDir(logdir, run). Only that
// directory gets an event file: a writer on the logdir root would leave an
// empty one there, which TensorBoard lists as a run of its own.
func runWriter(logdir, run string) (*tbwriter.Writer, error) {
	dir, err := runDir(logdir, run)
	if err != nil {
		return nil, err
	}
	return tbwriter.NewWriter(dir, nil)
}
