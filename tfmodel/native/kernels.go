package native

// The kernel families register themselves in init functions; importing
// them here makes `import "github.com/tbviz/tbviz/tfmodel/native"` link
// every kernel.
import (
	_ "github.com/tbviz/tbviz/tfmodel/native/array"
	_ "github.com/tbviz/tbviz/tfmodel/native/image"
	_ "github.com/tbviz/tbviz/tfmodel/native/mathops"
	_ "github.com/tbviz/tbviz/tfmodel/native/nn"
)
