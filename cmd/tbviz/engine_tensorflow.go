//go:build tensorflow

package main

import (
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
	engineLines = append(engineLines, func() string {
		line := "engine tensorflow: TensorFlow " + tfengine.Version() + " (C API, github.com/wamuir/graft)"
		// Listing devices starts TensorFlow's device runtime (CUDA on a
		// GPU build), which takes seconds: only `tbviz version` runs this.
		ds, err := tfengine.ListDevices(nil)
		if err != nil {
			return line + "; devices: unknown (" + err.Error() + ")"
		}
		var names []string
		for _, d := range ds {
			names = append(names, d.String())
		}
		return line + "; devices: " + strings.Join(names, ", ")
	})
}
