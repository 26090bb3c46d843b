package metrics_test

import (
	"context"
	"fmt"
	"image"

	"github.com/tbviz/tbviz/tfmodel/tensor"
	"github.com/tbviz/tbviz/vizhooks/metrics"
)

// A toy model whose class-0 probability is the mean of the left half of a
// 4×4 image, and a map that points at that half: deleting the left half
// first drives the score to 0 half-way (AUC 0.25, chance level 0.5); the
// map's maximum lies in the annotated box. The explanation map keeps
// the left half at 1 and 0.75 (the bilinearly upsampled map), so the
// score drops from 1 to 0.875: an average drop of 12.5%.
func ExampleEvaluate() {
	score := func(_ context.Context, b *tensor.Tensor) ([][]float64, error) {
		rows := make([][]float64, b.Shape[0])
		for i := range rows {
			s := 0.0
			for y := range 4 {
				for x := range 2 {
					s += float64(b.F32[i*16+y*4+x]) / 8
				}
			}
			rows[i] = []float64{s, 1 - s}
		}
		return rows, nil
	}
	img := tensor.New(tensor.Float32, 1, 4, 4, 1)
	for i := range img.F32 {
		img.F32[i] = 1
	}
	// A 2×2 layer-space map: high on the left column.
	maps := tensor.FromFloat32([]float32{1, 0, 1, 0}, 1, 2, 2, 1)
	rep, err := metrics.Evaluate(context.Background(), score, &metrics.Input{
		Images:  img,
		Maps:    maps,
		Classes: []int{0},
		Regions: [][]metrics.Region{{metrics.Box{X0: 0, Y0: 0, X1: 50, Y1: 100}}},
		Sizes:   []image.Point{{100, 100}}, // the original photo was 100×100
	}, metrics.Config{Steps: 4, Insertion: metrics.Zero})
	if err != nil {
		fmt.Println(err)
		return
	}
	d := rep.Images[0].Deletion
	fmt.Println("deletion curve:", d.Scores, "AUC", d.AUC, "chance", d.ChanceAUC())
	fmt.Println("insertion AUC:", rep.InsertionAUC)
	fmt.Printf("average drop %.1f%%, pointing game %.1f\n", rep.AverageDrop, rep.PointingAccuracy())
	// Output:
	// deletion curve: [1 0.5 0 0 0] AUC 0.25 chance 0.5
	// insertion AUC: 0.75
	// average drop 12.5%, pointing game 1.0
}
