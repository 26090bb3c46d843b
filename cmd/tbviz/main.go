// Command tbviz opens the black box of convolutional networks inside
// TensorBoard: it loads TensorFlow SavedModels without TensorFlow, computes
// feature maps, filter visualizations and the CAM family of heatmaps, and
// writes them as TensorBoard summaries.
//
// Run `tbviz help` or `tbviz COMMAND --help` for usage.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// commands is filled by each command's file in an init function, so that
// adding a command is adding one file.
var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:  "tbviz",
		Usage: "see what a convolutional network sees, in TensorBoard",
		Description: "tbviz loads TensorFlow SavedModels (TF1, TF2 Keras, Keras 3 exports) and TF.js graph-models\n" +
			"with no TensorFlow installed, computes feature maps, filter visualizations and CAM heatmaps\n" +
			"(Grad-CAM, Grad-CAM++, Score-CAM, LayerCAM, ...) and writes them into TensorBoard event files.",
		Commands:             commands,
		EnableBashCompletion: true,
		HideHelpCommand:      false,
	}
}

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "tbviz:", err)
		os.Exit(1)
	}
}
