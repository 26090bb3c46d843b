package bundle_test

import (
	"fmt"
	"log"

	"github.com/tbviz/tbviz/tfmodel/bundle"
)

// Read one variable of a SavedModel's checkpoint. (Not run: it needs a
// SavedModel on disk.)
func Example() {
	r, err := bundle.Open("model/variables/variables")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for _, key := range r.Keys() {
		e, _ := r.Entry(key)
		fmt.Println(key, e.DType, e.Shape)
	}
	kernel, err := r.Read("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(kernel.Shape)
}
