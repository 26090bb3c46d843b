package nn

import "github.com/tbviz/tbviz/tfmodel/tensor"

// im2col lays out the receptive fields of output pixels [r0, r1) (flat
// index over n, oh, ow) of g as rows of cols, each row kh·kw·c long in
// (kh, kw, c) order, matching an HWIO filter reshaped to [kh·kw·c, outCh].
// Padding reads as zero.
func im2col[T tensor.Float](g *convGeom, x []T, r0, r1 int, cols []T) {
	k := g.kh * g.kw * g.c
	nnParallelFor(r1-r0, 64, func(lo, hi int) {
		for r := r0 + lo; r < r0+hi; r++ {
			row := cols[(r-r0)*k : (r-r0+1)*k]
			im2colRow(g, x, r, row)
		}
	})
}

func im2colRow[T tensor.Float](g *convGeom, x []T, r int, row []T) {
	plane := g.oh * g.ow
	n, p := r/plane, r%plane
	ih0 := (p/g.ow)*g.sh - g.padT
	iw0 := (p%g.ow)*g.sw - g.padL
	c := g.c
	seg := g.kw * c
	i := 0
	for kh := 0; kh < g.kh; kh++ {
		ih := ih0 + kh*g.dh
		if ih < 0 || ih >= g.h {
			clear(row[i : i+seg])
			i += seg
			continue
		}
		base := (n*g.h + ih) * g.w
		if g.dw == 1 && iw0 >= 0 && iw0+g.kw <= g.w {
			// The whole kernel row is inside: one contiguous copy.
			copy(row[i:i+seg], x[(base+iw0)*c:(base+iw0)*c+seg])
			i += seg
			continue
		}
		for kw := 0; kw < g.kw; kw++ {
			iw := iw0 + kw*g.dw
			if iw < 0 || iw >= g.w {
				clear(row[i : i+c])
			} else {
				copy(row[i:i+c], x[(base+iw)*c:(base+iw+1)*c])
			}
			i += c
		}
	}
}

// col2imAdd is the adjoint of im2col: it adds each row of dcols (output
// pixels [r0, r1)) into the input positions it was read from in dx.
func col2imAdd[T tensor.Float](g *convGeom, dcols []T, r0, r1 int, dx []T) {
	k := g.kh * g.kw * g.c
	plane := g.oh * g.ow
	c := g.c
	// Rows of different images touch disjoint parts of dx: split the
	// range on image boundaries across workers.
	n0, n1 := r0/plane, (r1-1)/plane+1
	nnParallelFor(n1-n0, 1, func(lo, hi int) {
		for img := n0 + lo; img < n0+hi; img++ {
			a, b := max(r0, img*plane), min(r1, (img+1)*plane)
			for r := a; r < b; r++ {
				row := dcols[(r-r0)*k : (r-r0+1)*k]
				p := r % plane
				ih0 := (p/g.ow)*g.sh - g.padT
				iw0 := (p%g.ow)*g.sw - g.padL
				i := 0
				for kh := 0; kh < g.kh; kh++ {
					ih := ih0 + kh*g.dh
					if ih < 0 || ih >= g.h {
						i += g.kw * c
						continue
					}
					base := (img*g.h + ih) * g.w
					for kw := 0; kw < g.kw; kw++ {
						iw := iw0 + kw*g.dw
						if iw >= 0 && iw < g.w {
							dst := dx[(base+iw)*c : (base+iw+1)*c]
							src := row[i : i+c]
							for j := range dst {
								dst[j] += src[j]
							}
						}
						i += c
					}
				}
			}
		}
	})
}
