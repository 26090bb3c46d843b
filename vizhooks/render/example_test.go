package render_test

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/tbviz/tbviz/vizhooks/render"
)

// A 7×7 class-activation map brought to a 224×224 input image, coloured and
// blended over it, shown as an image | heatmap | overlay panel.
func Example() {
	cam := make([]float32, 7*7)
	cam[3*7+4] = 5 // one hot spot
	cam[3*7+3] = 2 // the upsampled peak is at row 112, column 143

	photo := image.NewRGBA(image.Rect(0, 0, 224, 224))
	draw.Draw(photo, photo.Bounds(), image.NewUniform(color.RGBA{90, 120, 60, 255}), image.Point{}, draw.Src)

	up := render.Upsample(cam, 7, 7, 224, 224, nil)
	heat := render.Normalizer{}.Normalize(up, up) // per-image min-max, in place
	cmap, err := render.ColormapByName("jet")
	if err != nil {
		fmt.Println(err)
		return
	}
	panel := render.Panel([]image.Image{
		photo,
		render.Heatmap(heat, 224, 224, cmap),
		render.Overlay(photo, heat, cmap, 0.5),
	}, []string{"input", "Grad-CAM", "overlay"}, render.Options{})

	fmt.Println(panel.Bounds().Dx(), "px wide")
	fmt.Println("hot spot:", cmap.At(float64(heat[112*224+143])))
	// Output:
	// 688 px wide
	// hot spot: {128 0 0 255}
}

// Feature maps of a layer with 100 channels, 64 tiles per page.
func ExampleChannelGrid() {
	const h, w, c = 7, 7, 100
	act := make([]float32, h*w*c)
	for i := range act {
		act[i] = float32(i % 13)
	}
	pages, err := render.ChannelGrid(act, h, w, c, nil, render.GridOptions{Colormap: render.Viridis})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pages {
		fmt.Println(p.Bounds().Size())
	}
	// Output:
	// (316,436)
	// (238,328)
}
