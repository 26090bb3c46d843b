package metrics

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/tbviz/tbviz/tbwriter"
	"github.com/tbviz/tbviz/tfmodel/tensor"
)

// Input is what Evaluate scores: one method's maps for a batch.
type Input struct {
	// Images is the [B, H, W, C] float32 batch the maps explain, as the
	// model takes it.
	Images *tensor.Tensor
	// Maps holds one map per image: [B, h, w, 1] (layer space) or
	// [B, H, W, C] (input space), as cam.Method.Compute returns them.
	Maps *tensor.Tensor
	// Classes is the target class of each image.
	Classes []int
	// Regions optionally holds, per image, the annotated objects for the
	// pointing game (nil or empty: no pointing game for that image).
	Regions [][]Region
	// Sizes are the original images' sizes the Regions are given in
	// (image.Image.Bounds().Size()); nil means the model input's H×W.
	Sizes []image.Point
}

// ImageReport is one image's scores.
type ImageReport struct {
	Deletion   Curve      `json:"deletion"`
	Insertion  Curve      `json:"insertion"`
	Confidence Confidence `json:"confidence"`
	// Pointing is nil when the image has no regions.
	Pointing *Pointing `json:"pointing,omitempty"`
}

// Report holds one method's scores over a batch: the means and the
// per-image details.
type Report struct {
	// DeletionAUC and InsertionAUC are the mean AUCs over the images.
	DeletionAUC  float64 `json:"deletion_auc"`
	InsertionAUC float64 `json:"insertion_auc"`
	// AverageDrop and IncreaseInConfidence are in percent.
	AverageDrop          float64 `json:"average_drop"`
	IncreaseInConfidence float64 `json:"increase_in_confidence"`
	// PointingHits of PointingImages images with regions were hits.
	PointingHits   int `json:"pointing_hits"`
	PointingImages int `json:"pointing_images"`
	// Images are the per-image details, in batch order.
	Images []ImageReport `json:"images"`
}

// PointingAccuracy returns PointingHits / PointingImages, NaN when no
// image had regions.
func (r *Report) PointingAccuracy() float64 {
	if r.PointingImages == 0 {
		return math.NaN()
	}
	return float64(r.PointingHits) / float64(r.PointingImages)
}

// Evaluate computes every metric of one method's maps: the deletion and
// insertion curves, the confidences on the explanation maps, and the
// pointing game for the images that have regions.
func Evaluate(ctx context.Context, s Scorer, in *Input, cfg Config) (*Report, error) {
	if in == nil {
		return nil, fmt.Errorf("metrics: nil input")
	}
	b, h, w, _, err := checkBatch(in.Images, in.Maps, in.Classes)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if in.Regions != nil && len(in.Regions) != b {
		return nil, fmt.Errorf("metrics: %d region lists for %d images", len(in.Regions), b)
	}
	if in.Sizes != nil && len(in.Sizes) != b {
		return nil, fmt.Errorf("metrics: %d image sizes for %d images", len(in.Sizes), b)
	}
	del, err := Deletion(ctx, s, in.Images, in.Maps, in.Classes, cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	ins, err := Insertion(ctx, s, in.Images, in.Maps, in.Classes, cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	conf, err := Confidences(ctx, s, in.Images, in.Maps, in.Classes, cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	images := make([]ImageReport, b)
	for i := range b {
		images[i] = ImageReport{Deletion: del[i], Insertion: ins[i], Confidence: conf[i]}
		if in.Regions == nil || len(in.Regions[i]) == 0 {
			continue
		}
		size := image.Pt(w, h)
		if in.Sizes != nil {
			size = in.Sizes[i]
		}
		pt, err := PointingGame(Saliency(in.Maps, i, h, w), h, w, size, in.Regions[i], cfg.Tolerance)
		if err != nil {
			return nil, fmt.Errorf("metrics: image %d: %w", i, err)
		}
		images[i].Pointing = &pt
	}
	return Summarize(images), nil
}

// Summarize returns the report of a set of per-image results: the mean
// AUCs, Average Drop and Increase in Confidence over all of them, and the
// pointing-game hits among those with a Pointing. Reports over several
// batches of one method merge as Summarize(append(r1.Images, r2.Images...)).
func Summarize(images []ImageReport) *Report {
	r := &Report{Images: images}
	conf := make([]Confidence, len(images))
	for i, im := range images {
		conf[i] = im.Confidence
		r.DeletionAUC += im.Deletion.AUC / float64(len(images))
		r.InsertionAUC += im.Insertion.AUC / float64(len(images))
		if im.Pointing != nil {
			r.PointingImages++
			if im.Pointing.Hit {
				r.PointingHits++
			}
		}
	}
	r.AverageDrop, r.IncreaseInConfidence = AverageDrop(conf), IncreaseInConfidence(conf)
	return r
}

// Tags returns the scalar tags Write uses for method:
// "metrics/<method>/deletion_auc", ".../insertion_auc",
// ".../average_drop", ".../increase_in_confidence" and
// ".../pointing_game".
func Tags(method string) []string {
	p := "metrics/" + method + "/"
	return []string{p + "deletion_auc", p + "insertion_auc", p + "average_drop", p + "increase_in_confidence", p + "pointing_game"}
}

// Write writes r's means as scalars at step under Tags(method); the
// pointing game only when some image had regions.
func (r *Report) Write(w *tbwriter.Writer, step int64, method string) error {
	tags := Tags(method)
	vals := []float64{r.DeletionAUC, r.InsertionAUC, r.AverageDrop, r.IncreaseInConfidence, r.PointingAccuracy()}
	if r.PointingImages == 0 {
		tags, vals = tags[:4], vals[:4]
	}
	for i, tag := range tags {
		if err := w.Scalar(tag, step, vals[i]); err != nil {
			return fmt.Errorf("metrics: write %s: %w", tag, err)
		}
	}
	return nil
}

// Markdown returns a table of the reports, one row per method (methods[i]
// names reports[i]), for a TensorBoard text summary.
func Markdown(methods []string, reports []*Report) string {
	var sb strings.Builder
	sb.WriteString("| method | deletion AUC ↓ | insertion AUC ↑ | average drop % ↓ | increase in confidence % ↑ | pointing game ↑ |\n|---|---|---|---|---|---|\n")
	for i, r := range reports {
		if r == nil || i >= len(methods) {
			continue
		}
		pg := "–"
		if r.PointingImages > 0 {
			pg = fmt.Sprintf("%.3f (%d/%d)", r.PointingAccuracy(), r.PointingHits, r.PointingImages)
		}
		fmt.Fprintf(&sb, "| %s | %.4f | %.4f | %.2f | %.1f | %s |\n", methods[i], r.DeletionAUC, r.InsertionAUC, r.AverageDrop, r.IncreaseInConfidence, pg)
	}
	return sb.String()
}
