// Package render turns the float maps that tbviz's visualization methods
// produce into images: colormaps, half-pixel-correct bilinear upsampling,
// normalisation, heatmaps and overlays, guided-backprop gradient images,
// and captioned panels, grids and feature-map pages.
//
// Maps are row-major []float32 slices with explicit sizes, as the engines
// produce them. Functions taking a dst buffer reuse it when it is large
// enough (like append), so a training-loop hook can render without
// allocating per step. Functions panic only on arguments that are a
// programming error (a buffer shorter than its stated size); sizes and
// indices that come from users are validated and reported as errors.
package render
