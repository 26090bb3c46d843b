package gemm

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/tbviz/tbviz/tfmodel/native/parallel"
)

// A packed, cache-blocked float32 GEMM around a 6×16 register-blocked
// micro-kernel (AVX2/FMA assembly on amd64), in the Goto/BLIS scheme:
// for each kc-deep slice of the inner dimension, B is packed once into
// 16-column panels shared by all workers; each worker packs mc-row blocks
// of A (scaled by alpha) into 6-row panels and runs the micro-kernel over
// its tiles. The first k slice overwrites C after scaling it by beta (or
// without reading it when beta is 0), the later ones accumulate.

const (
	mr = 6   // micro-tile rows
	nr = 16  // micro-tile columns
	kc = 256 // depth of one packed slice
	mc = 96  // rows of one packed block of A (a multiple of mr)
	nc = 1024
)

// sgemmParallelMin is the number of multiply-adds below which one
// goroutine does the whole product.
const sgemmParallelMin = 1 << 16

// packBParallelMin is the size of a slice of B (kc × nc elements) from
// which its packing is shared among the workers.
const packBParallelMin = 1 << 14

// packB packs rows [p0, p0+kb) and columns [j0, j0+nb) of op(B) into
// 16-column panels, zero-padded to a multiple of 16 columns.
func packB(transB bool, b []float32, ldb, p0, kb, j0, nb int, dst []float32) {
	for jp := 0; jp < nb; jp += nr {
		w := min(nr, nb-jp)
		panel := dst[jp*kb : jp*kb+kb*nr]
		if !transB {
			for p := range kb {
				row := b[(p0+p)*ldb+j0+jp:]
				d := panel[p*nr : p*nr+nr]
				copy(d[:w], row[:w])
				clear(d[w:])
			}
			continue
		}
		if w < nr {
			clear(panel)
		}
		for j := range w {
			col := b[(j0+jp+j)*ldb+p0:]
			col = col[:kb]
			for p, v := range col {
				panel[p*nr+j] = v
			}
		}
	}
}

// packA packs rows [i0, i0+mb) and columns [p0, p0+kb) of alpha·op(A)
// into 6-row panels, zero-padded to a multiple of 6 rows.
func packA(transA bool, alpha float32, a []float32, lda, i0, mb, p0, kb int, dst []float32) {
	for ip := 0; ip < mb; ip += mr {
		h := min(mr, mb-ip)
		panel := dst[ip*kb : ip*kb+kb*mr]
		if h < mr {
			clear(panel)
		}
		if transA {
			for p := range kb {
				row := a[(p0+p)*lda+i0+ip:]
				row = row[:h]
				d := panel[p*mr : p*mr+h]
				for i, v := range row {
					d[i] = alpha * v
				}
			}
			continue
		}
		for i := range h {
			row := a[(i0+ip+i)*lda+p0:]
			row = row[:kb]
			for p, v := range row {
				panel[p*mr+i] = alpha * v
			}
		}
	}
}

// scratch is a bounded free list of packing buffers.
var scratch = make(chan []float32, 8)

func getBuf(n int) []float32 {
	select {
	case s := <-scratch:
		if cap(s) >= n {
			return s[:n]
		}
	default:
	}
	return make([]float32, n)
}

func putBuf(s []float32) {
	select {
	case scratch <- s:
	default:
	}
}

// sgemm computes c = alpha·op(a)·op(b) + beta·c with the micro-kernel;
// m, n, k > 0. epi (optional) is called on each finished rectangle of c
// (rows [i0, i1), columns [j0, j1)) while it is still in cache, possibly
// concurrently from several workers; together the rectangles tile c once.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, epi func(i0, i1, j0, j1 int)) {
	if beta != 0 && beta != 1 {
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
	}
	workers := 1
	if m*n*k >= sgemmParallelMin {
		workers = runtime.GOMAXPROCS(0)
	}
	bbuf := getBuf(kc * ((min(n, nc) + nr - 1) / nr * nr))
	defer putBuf(bbuf)
	for j0 := 0; j0 < n; j0 += nc {
		nb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			acc := p0 > 0 || beta != 0
			last := p0+kb >= k
			bp := bbuf[:kb*((nb+nr-1)/nr*nr)]
			mblocks := (m + mc - 1) / mc
			npanels := (nb + nr - 1) / nr
			if workers > 1 && kb*nb >= packBParallelMin {
				// Few rows of A (a late batch-1 1×1 convolution): packing B
				// costs about as much as the product; share it.
				parallel.For(npanels, 1, func(q0, q1 int) {
					c0 := q0 * nr
					packB(transB, b, ldb, p0, kb, j0+c0, min(q1*nr, nb)-c0, bp[c0*kb:])
				})
			} else {
				packB(transB, b, ldb, p0, kb, j0, nb, bp)
			}
			// Tasks: mc-row blocks of A times groups of B panels. Split
			// the columns too when there are fewer row blocks than
			// workers.
			nsplit := 1
			if workers > 1 && mblocks < 2*workers {
				nsplit = min(npanels, (2*workers+mblocks-1)/mblocks)
			}
			tasks := mblocks * nsplit
			// A is read in place unless it must be transposed or scaled
			// (only partial 6-row panels are packed then), and when B is narrow:
			// each row block of A is then read by only a few panels of B.
			inPlace := inPlaceA && !transA && alpha == 1 && nb <= 192
			var next atomic.Int64
			work := func() {
				abuf := getBuf(mc * kb)
				defer putBuf(abuf)
				lastBlock := -1
				var tile [mr * nr]float32
				for {
					t := int(next.Add(1)) - 1
					if t >= tasks {
						return
					}
					blk, part := t/nsplit, t%nsplit
					i0 := blk * mc
					mb := min(mc, m-i0)
					src := aSource{packed: abuf}
					if inPlace {
						src = aSource{a: a[i0*lda+p0:], lda: lda, edge: abuf}
					}
					if blk != lastBlock {
						if inPlace {
							if full := mb / mr * mr; full < mb {
								packA(false, 1, a, lda, i0+full, mb-full, p0, kb, abuf)
							}
						} else {
							packA(transA, alpha, a, lda, i0, mb, p0, kb, abuf)
						}
						lastBlock = blk
					}
					q0, q1 := part*npanels/nsplit, (part+1)*npanels/nsplit
					macroKernel(src, bp, kb, mb, nb, q0, q1, c[i0*ldc+j0:], ldc, acc, &tile)
					if last && epi != nil {
						epi(i0, i0+mb, j0+q0*nr, j0+min(q1*nr, nb))
					}
				}
			}
			parallel.Do(min(workers, tasks), work)
		}
	}
}

// aSource is a block of A as the micro-kernels read it: either packed
// into 6-row panels, or in place (row i, column p at a[i·lda+p]) with
// its last partial panel packed in edge.
type aSource struct {
	packed []float32
	a      []float32
	lda    int
	edge   []float32
}

// kern runs the micro-kernel on the 6-row panel at row ip of the block.
func (s *aSource) kern(ip, h, kb int, bpan []float32, c *float32, ldc, acc int) {
	if s.packed != nil {
		apan := s.packed[ip*kb : ip*kb+kb*mr]
		kern6x16(kb, unsafe.SliceData(apan), unsafe.SliceData(bpan), c, ldc, acc)
		return
	}
	if h < mr {
		kern6x16(kb, unsafe.SliceData(s.edge), unsafe.SliceData(bpan), c, ldc, acc)
		return
	}
	_ = s.a[(ip+mr-1)*s.lda+kb-1] // bounds check for the kernel's reads
	kern6x16U(kb, &s.a[ip*s.lda], s.lda, unsafe.SliceData(bpan), c, ldc, acc)
}

// macroKernel multiplies a block of A (mb rows) by the packed B panels
// [q0, q1) into c (its top-left at the block's origin).
func macroKernel(src aSource, bp []float32, kb, mb, nb, q0, q1 int, c []float32, ldc int, acc bool, tile *[mr * nr]float32) {
	accI := 0
	if acc {
		accI = 1
	}
	for q := q0; q < q1; q++ {
		jp := q * nr
		w := min(nr, nb-jp)
		bpan := bp[jp*kb : jp*kb+kb*nr]
		for ip := 0; ip < mb; ip += mr {
			h := min(mr, mb-ip)
			if h == mr && w == nr {
				ci := ip*ldc + jp
				_ = c[ci+(mr-1)*ldc+nr-1] // bounds check for the kernel's writes
				src.kern(ip, h, kb, bpan, &c[ci], ldc, accI)
				continue
			}
			// Edge tile: compute into a local tile, then merge.
			src.kern(ip, h, kb, bpan, &tile[0], nr, 0)
			for i := range h {
				row := c[(ip+i)*ldc+jp : (ip+i)*ldc+jp+w]
				t := tile[i*nr : i*nr+w]
				if acc {
					for j, v := range t {
						row[j] += v
					}
				} else {
					copy(row, t)
				}
			}
		}
	}
}

// kern6x16Go is the portable micro-kernel: c[i·ldc+j] (i < 6, j < 16) is
// set to (acc != 0 ? c : 0) + Σ_p a[6p+i]·b[16p+j] over p < k.
func kern6x16Go(k int, a, b, c *float32, ldc int, acc int) {
	as := unsafe.Slice(a, k*mr)
	bs := unsafe.Slice(b, k*nr)
	var t [mr * nr]float32
	for p := range k {
		av := as[p*mr : p*mr+mr]
		bv := bs[p*nr : p*nr+nr]
		for i, x := range av {
			r := t[i*nr : i*nr+nr]
			for j, y := range bv {
				r[j] += x * y
			}
		}
	}
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	for i := range mr {
		r := cs[i*ldc : i*ldc+nr]
		for j := range r {
			if acc != 0 {
				r[j] += t[i*nr+j]
			} else {
				r[j] = t[i*nr+j]
			}
		}
	}
}

// inPlaceA lets the micro-kernel read A in place when possible (a
// variable so the benchmarks can compare both ways).
var inPlaceA = true
