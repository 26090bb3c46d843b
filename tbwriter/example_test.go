package tbwriter_test

import (
	"fmt"
	"image"
	"image/color"
	"log"
	"os"
	"path/filepath"

	"github.com/tbviz/tbviz/tbwriter"
)

func ExampleNewWriter() {
	logdir, err := os.MkdirTemp("", "logs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(logdir)

	w, err := tbwriter.NewWriter(filepath.Join(logdir, "train"), nil)
	if err != nil {
		log.Fatal(err)
	}
	for step := int64(0); step < 3; step++ {
		if err := w.Scalar("loss", step, 1/float64(step+1)); err != nil {
			log.Fatal(err)
		}
	}
	heat := image.NewGray(image.Rect(0, 0, 16, 8))
	for x := range 16 {
		heat.SetGray(x, 4, color.Gray{Y: uint8(16 * x)})
	}
	if err := w.Image("gradcam/cat", 2, heat); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil { // flushes and fsyncs
		log.Fatal(err)
	}

	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range ld.Run("train").Values {
		fmt.Println(v.Tag, v.Step, v.Plugin, v.Kind)
	}
	// Output:
	// loss 0 scalars scalar
	// loss 1 scalars scalar
	// loss 2 scalars scalar
	// gradcam/cat 2 images image
}

func ExampleReadLogdir() {
	logdir, err := os.MkdirTemp("", "logs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(logdir)
	w, err := tbwriter.NewWriter(logdir, nil)
	if err != nil {
		log.Fatal(err)
	}
	run, err := w.Run("eval")
	if err != nil {
		log.Fatal(err)
	}
	for _, err := range []error{
		w.Scalar("accuracy", 10, 0.75),
		run.Text("notes", 10, "*evaluation* run"),
		run.Histogram("logits", 10, []float64{-1, 0, 0, 1}),
	} {
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // also closes the "eval" run
		log.Fatal(err)
	}

	ld, err := tbwriter.ReadLogdir(logdir)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range ld.Runs {
		for _, v := range r.Values {
			switch v.Kind {
			case tbwriter.KindScalar:
				fmt.Printf("%s %s@%d = %v\n", r.Name, v.Tag, v.Step, v.Scalar)
			case tbwriter.KindText:
				fmt.Printf("%s %s@%d = %q\n", r.Name, v.Tag, v.Step, v.Text)
			case tbwriter.KindHistogram:
				fmt.Printf("%s %s@%d: %d buckets from %v to %v\n", r.Name, v.Tag, v.Step,
					len(v.Buckets), v.Buckets[0].Left, v.Buckets[len(v.Buckets)-1].Right)
			}
		}
	}
	fmt.Println("problems:", len(ld.Problems))
	// Output:
	// . accuracy@10 = 0.75
	// eval notes@10 = "*evaluation* run"
	// eval logits@10: 30 buckets from -1 to 1
	// problems: 0
}
