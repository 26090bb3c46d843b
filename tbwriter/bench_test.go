package tbwriter

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// BenchmarkScalar measures buffered scalar events per second (events/s is
// reported; the target is at least 1M).
func BenchmarkScalar(b *testing.B) {
	w, err := NewWriter(b.TempDir(), &Options{FlushInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Scalar("loss", int64(i), float64(i)*0.5); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkScalarParallel is BenchmarkScalar from GOMAXPROCS goroutines.
func BenchmarkScalarParallel(b *testing.B) {
	w, err := NewWriter(b.TempDir(), &Options{FlushInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int64(0)
		for pb.Next() {
			if err := w.Scalar("loss", i, 1); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func benchImage(size int) image.Image { return testImage(size, size, 5) }

// BenchmarkPNGEncode is the cost of PNG encoding alone, with the same
// encoder settings as the Writer, for comparison with BenchmarkImage.
func BenchmarkPNGEncode(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run(sizeName(size), func(b *testing.B) {
			m := benchImage(size)
			enc := png.Encoder{BufferPool: &pngPool{}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var buf bytes.Buffer
				if err := enc.Encode(&buf, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkImage is the Writer's image path (PNG encoding, event framing,
// buffering; file writes every 1 MiB).
func BenchmarkImage(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run(sizeName(size), func(b *testing.B) {
			w, err := NewWriter(b.TempDir(), &Options{FlushInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			m := benchImage(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.Image("img", int64(i), m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkImagePNG is the Writer's overhead alone: already-encoded PNGs.
func BenchmarkImagePNG(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run(sizeName(size), func(b *testing.B) {
			w, err := NewWriter(b.TempDir(), &Options{FlushInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var buf bytes.Buffer
			if err := png.Encode(&buf, benchImage(size)); err != nil {
				b.Fatal(err)
			}
			p := buf.Bytes()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.ImagePNG("img", int64(i), size, size, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func sizeName(n int) string {
	return map[int]string{64: "64x64", 512: "512x512"}[n]
}
