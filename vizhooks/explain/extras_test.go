package explain_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tbviz/tbviz/vizhooks/explain"
	"github.com/tbviz/tbviz/vizhooks/featuremaps"
	"github.com/tbviz/tbviz/vizhooks/metrics"
)

// TestRunFeaturemapsAndMetrics runs "featuremaps" next to a CAM method
// with the metrics on: the grids and histograms of the feature layers,
// the metric scalars (equal to Result.Metrics), the pointing game over the
// images with boxes, and the metrics table in the summary.
func TestRunFeaturemapsAndMetrics(t *testing.T) {
	f := newFixture(t)
	cfg := explain.Config{Methods: []string{"gradcam", "featuremaps"}, FeatureLayers: []string{"conv2d_1", cifarLayer},
		Featuremaps: featuremaps.Config{Channels: featuremaps.Channels{Mode: featuremaps.First, N: 4}},
		Metrics:     true, MetricsConfig: metrics.Config{Steps: 8},
		// chelsea's box is the whole photo (a hit wherever the map
		// peaks), coffee's lies outside it (a miss), rocket has none.
		Boxes: metrics.Boxes{"chelsea": {{X0: 0, Y0: 0, X1: 48, Y1: 32}}, "coffee": {{X0: 1000, Y0: 1000, X1: 1001, Y1: 1001}}},
	}
	res, run, err := f.run(t, filepath.Join(f.dir, "fm"), f.images, cfg)
	if err != nil || len(res.Errors) != 0 {
		t.Fatalf("%v %v", err, res.Errors)
	}
	counts := tagCounts(t, run, 0)
	if len(res.FeatureMaps) != 2*len(f.images) {
		t.Fatalf("%d feature-map entries, want 2 layers × %d images: %+v", len(res.FeatureMaps), len(f.images), res.FeatureMaps)
	}
	layersSeen := map[string]bool{}
	for _, fm := range res.FeatureMaps {
		layersSeen[fm.Layer] = true
		if len(fm.Channels) != 4 || fm.Channels[3] != 3 || len(fm.Tags) != 1 {
			t.Errorf("%s %s: channels %v, tags %v; want the first 4 channels on one page", fm.Image, fm.Layer, fm.Channels, fm.Tags)
		}
		for _, tag := range fm.Tags {
			if counts[tag] != 1 || !strings.HasPrefix(tag, "featuremaps/"+fm.Layer+"/") {
				t.Errorf("tag %s written %d times", tag, counts[tag])
			}
		}
	}
	if !layersSeen[cifarLayer] || len(layersSeen) != 2 {
		t.Errorf("feature layers %v", layersSeen)
	}
	for l := range layersSeen {
		if counts["activations/"+l] != 1 {
			t.Errorf("histogram activations/%s written %d times", l, counts["activations/"+l])
		}
	}
	rep := res.Metrics["gradcam"]
	if rep == nil || len(res.Metrics) != 1 || len(rep.Images) != len(f.images) {
		t.Fatalf("metrics %+v", res.Metrics)
	}
	if rep.PointingImages != 2 || rep.PointingHits != 1 || rep.Images[2].Pointing != nil {
		t.Errorf("pointing game %d/%d, want 1/2 (rocket has no box)", rep.PointingHits, rep.PointingImages)
	}
	if !(rep.DeletionAUC >= 0 && rep.DeletionAUC <= 1 && rep.InsertionAUC >= 0 && rep.InsertionAUC <= 1) {
		t.Errorf("AUCs %g %g outside [0, 1]", rep.DeletionAUC, rep.InsertionAUC)
	}
	want := map[string]float64{"deletion_auc": rep.DeletionAUC, "insertion_auc": rep.InsertionAUC, "average_drop": rep.AverageDrop,
		"increase_in_confidence": rep.IncreaseInConfidence, "pointing_game": 0.5}
	for name, v := range want {
		s := run.Series("metrics/gradcam/" + name)
		if len(s) != 1 || s[0].Scalar != v {
			t.Errorf("metrics/gradcam/%s = %+v, want one value %g", name, s, v)
		}
	}
	for _, v := range run.Series("summary") {
		if !strings.Contains(v.Text, "**metrics**") || !strings.Contains(v.Text, "| gradcam |") || !strings.Contains(v.Text, "0.500 (1/2)") {
			t.Errorf("summary has no metrics table:\n%s", v.Text)
		}
	}
	if len(res.Images[0].Maps) != 1 {
		t.Errorf("maps %+v: featuremaps must not count as a CAM map", res.Images[0].Maps)
	}
}

// TestRunFeaturemapsOnly: "featuremaps" alone computes no CAM, and a bad
// feature layer is reported while the rest is written.
func TestRunFeaturemapsOnly(t *testing.T) {
	f := newFixture(t)
	res, run, err := f.run(t, filepath.Join(f.dir, "a"), f.images[:1], explain.Config{Methods: []string{"featuremaps"}})
	if err != nil || len(res.Errors) != 0 || len(res.FeatureMaps) != 1 || res.FeatureMaps[0].Layer != cifarLayer || len(res.Images[0].Maps) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if c := tagCounts(t, run, 0); c["featuremaps/"+cifarLayer+"/chelsea"] != 1 || c["summary"] != 1 {
		t.Errorf("tags %v", c)
	}
	res, run, err = f.run(t, filepath.Join(f.dir, "b"), f.images[:1], explain.Config{Methods: []string{"gradcam", "featuremaps"}, FeatureLayers: []string{"no_such_layer"}})
	if err != nil || len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Error(), "featuremaps: ") || !strings.Contains(res.Errors[0].Error(), "no_such_layer") {
		t.Fatalf("errors %v, %v", res.Errors, err)
	}
	if c := tagCounts(t, run, 0); c["gradcam/"+cifarLayer+"/chelsea"] != 1 {
		t.Errorf("the CAM was not written after the feature-map error: %v", c)
	}
}
