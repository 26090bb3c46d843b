//go:build tensorflow

package main

import (
	"os"
	"slices"
	"strings"

	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/engine"
	"github.com/tbviz/tbviz/tfmodel/tfengine"
)

func init() {
	engines["tensorflow"] = engineSpec{
		New: func(m *tfmodel.Model, device string) (engine.Engine, error) {
			return tfengine.New(m.Graph, &tfengine.Options{Device: device})
		},
		Usage: "TensorFlow " + tfengine.Version() + " runtime through the C API (libtensorflow); --device cpu, gpu, /GPU:N",
	}
	line := "engine tensorflow: TensorFlow " + tfengine.Version() + " (C API, github.com/wamuir/graft)"
	// Listing devices starts TensorFlow's device runtime (CUDA on a GPU
	// build), which takes seconds: only `tbviz version` pays for it.
	if !slices.Contains(os.Args[1:], "version") {
		engineLines = append(engineLines, line)
		return
	}
	if ds, err := tfengine.ListDevices(nil); err != nil {
		line += "; devices: unknown (" + err.Error() + ")"
	} else {
		var names []string
		for _, d := range ds {
			names = append(names, d.String())
		}
		line += "; devices: " + strings.Join(names, ", ")
	}
	engineLines = append(engineLines, line)
}
