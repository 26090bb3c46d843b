// Package cifar10 embeds tbviz's example: the MIT-licensed
// cifar10-logits-tf28 SavedModel (see model/NOTICE.md), its CIFAR-10 label
// file and three public-domain photos (see images/PROVENANCE.md). `tbviz
// demo` and the tests use it, so the binary carries a complete example.
package cifar10

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FS holds model/ (the SavedModel), images/ and labels.txt.
//
//go:embed model labels.txt images
var FS embed.FS

// Extract writes the embedded files under dir (created if needed) and
// returns the SavedModel directory, the image paths and the label file.
func Extract(dir string) (model string, images []string, labels string, err error) {
	err = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		if filepath.Dir(p) == "images" && filepath.Ext(p) != ".md" {
			images = append(images, dst)
		}
		return nil
	})
	if err != nil {
		return "", nil, "", fmt.Errorf("extract example to %s: %w", dir, err)
	}
	return filepath.Join(dir, "model"), images, filepath.Join(dir, "labels.txt"), nil
}
