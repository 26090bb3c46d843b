package bundle

import "testing"

// BenchmarkReadAll opens the TF1 MobileNetV2 bundle (264 entries, 2 shards)
// and reads every tensor.
func BenchmarkReadAll(b *testing.B) {
	prefix := sharedPrefixesTB(b)["tm-mobilenetv2-eyes-tf115"]
	for b.Loop() {
		r, err := Open(prefix)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range r.Keys() {
			if _, err := r.Read(k); err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
}
