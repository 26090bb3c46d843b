package imageio_test

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	"github.com/tbviz/tbviz/vizhooks/imageio"
)

// Load an image file and make a MobileNet-style input batch from it:
// 224×224 RGB in [-1, 1].
func Example() {
	dir, err := os.MkdirTemp("", "imageio-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "photo.png")
	src := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range src.Pix {
		src.Pix[i] = 255 // white
	}
	src.SetRGBA(0, 0, color.RGBA{0, 0, 0, 255})
	f, _ := os.Create(path)
	png.Encode(f, src)
	f.Close()

	img, err := imageio.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := imageio.ParseRange("-1,1") // e.g. from a --input-range flag
	if err != nil {
		fmt.Println(err)
		return
	}
	x, err := imageio.ToTensor([]image.Image{img}, 224, 224, 3, r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(x.Shape, x.F32[224*3*100])

	_, err = imageio.Load(filepath.Join(dir, "missing.png"))
	fmt.Println(err != nil)
	// Output:
	// [1 224 224 3] 1
	// true
}

// Several files at once: files that fail are reported, not fatal.
func ExampleLoadBatch() {
	b, err := imageio.LoadBatch([]string{"no/such/file.png"}, 224, 224, 3, imageio.Range01)
	fmt.Println(b.Tensor == nil, len(b.Errs), err != nil)
	// Output:
	// true 1 true
}
