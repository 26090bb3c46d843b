package datasets_test

import (
	"fmt"

	"github.com/tbviz/tbviz/internal/datasets"
)

// Reading the Fashion-MNIST test split installed by Debian's
// dataset-fashion-mnist package.
func ExampleFashionMNIST() {
	images, labels, err := datasets.FashionMNIST("/usr/share/datasets/fashion-mnist", "test")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(labels), "images of", len(images)/len(labels), "pixels; first is a", datasets.FashionMNISTClasses[labels[0]])
}
