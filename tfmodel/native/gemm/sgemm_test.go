package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// naiveGemm is the reference: float64 triple loop over the definition.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = v
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// TestSgemmAgainstNaive checks the packed GEMM on odd sizes (edge tiles
// in both directions, several k slices, column splits), every
// transposition, padded leading dimensions, and alpha/beta, against a
// float64 triple loop. With beta = 0, C starts as NaN: it must not be read.
func TestSgemmAgainstNaive(t *testing.T) {
	sizes := [][3]int{{1, 1, 1}, {6, 16, 1}, {7, 17, 3}, {5, 15, 300}, {97, 33, 257}, {200, 40, 20}, {13, 1030, 9}, {1, 1000, 70}, {300, 5, 600}}
	checkAgainstNaive(t, sizes, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
	})
}

// TestGemmAgainstNaive checks the public dispatch: with -tags openblas,
// deep products go to OpenBLAS in blocks of rows (150×40×100) or columns
// (20×300×100) shared among workers, shallow ones to the micro-kernel;
// an empty product (k = 0, beta = 0) overwrites C without reading it.
func TestGemmAgainstNaive(t *testing.T) {
	sizes := [][3]int{{4, 9, 0}, {150, 40, 100}, {20, 300, 100}, {97, 33, 257}, {64, 64, 64}, {1, 1000, 70}, {300, 5, 600}}
	checkAgainstNaive(t, sizes, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// checkAgainstNaive runs gemm on every size, transposition and (alpha,
// beta) with padded leading dimensions and compares it with naiveGemm.
func checkAgainstNaive(t *testing.T, sizes [][3]int, gemm func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range sizes {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, ab := range [][2]float32{{1, 0}, {-0.5, 1}, {2, 0.25}} {
					alpha, beta := ab[0], ab[1]
					name := fmt.Sprintf("m%d_n%d_k%d_ta%v_tb%v_a%g_b%g", m, n, k, ta, tb, alpha, beta)
					ar, ac := m, k
					if ta {
						ar, ac = k, m
					}
					br, bc := k, n
					if tb {
						br, bc = n, k
					}
					lda, ldb, ldc := ac+3, bc+1, n+2
					a, b := randSlice(r, ar*lda), randSlice(r, br*ldb)
					c := randSlice(r, m*ldc)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN())
						}
					}
					want := naiveGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					for i := range m {
						for j := range n {
							got, w := float64(c[i*ldc+j]), want[i*n+j]
							if !(math.Abs(got-w) <= 1e-5*float64(k)+1e-5*math.Abs(w)) {
								t.Fatalf("%s: c[%d,%d] = %g, want %g", name, i, j, got, w)
							}
						}
						// Padding between rows is untouched.
						for j := n; j < ldc && i < m-1; j++ {
							if beta != 0 && c[i*ldc+j] != c[i*ldc+j] {
								t.Fatalf("%s: wrote padding c[%d,%d]", name, i, j)
							}
						}
					}
				}
			}
		}
	}
}

// TestKernelMatchesPortable checks the micro-kernel in use (assembly on
// amd64) against the portable Go one, with and without accumulation.
func TestKernelMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 2, 7, 64} {
		a, b := randSlice(r, k*mr), randSlice(r, k*nr)
		for _, acc := range []int{0, 1} {
			ldc := nr + 5
			c0 := randSlice(r, mr*ldc)
			c1 := append([]float32(nil), c0...)
			c2 := append([]float32(nil), c0...)
			kern6x16(k, unsafe.SliceData(a), unsafe.SliceData(b), &c0[0], ldc, acc)
			kern6x16Go(k, unsafe.SliceData(a), unsafe.SliceData(b), &c1[0], ldc, acc)
			// The in-place kernel on the same A laid out as 6 rows of
			// stride k+3.
			lda := k + 3
			au := make([]float32, mr*lda)
			for i := range mr {
				for p := range k {
					au[i*lda+p] = a[p*mr+i]
				}
			}
			kern6x16U(k, &au[0], lda, unsafe.SliceData(b), &c2[0], ldc, acc)
			for i := range c0 {
				if d := math.Abs(float64(c0[i] - c1[i])); d > 1e-5*float64(k) {
					t.Fatalf("k=%d acc=%d: c[%d] = %g, portable %g", k, acc, i, c0[i], c1[i])
				}
				if d := math.Abs(float64(c2[i] - c1[i])); d > 1e-5*float64(k) {
					t.Fatalf("k=%d acc=%d: in-place kernel c[%d] = %g, portable %g", k, acc, i, c2[i], c1[i])
				}
			}
		}
	}
}

// TestGemmDispatch checks the public entry point (whatever backend the
// build uses) on a small product and the k = 0 case.
func TestGemmDispatch(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6} // 2×3
	b := []float32{1, 0, 0, 1, 1, 1} // 3×2
	c := []float32{10, 10, 10, 10}   // 2×2
	Gemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0.5, c, 2)
	want := []float32{1 + 3 + 5, 2 + 3 + 5, 4 + 6 + 5, 5 + 6 + 5}
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("c = %v, want %v", c, want)
		}
	}
	Gemm(false, false, 2, 2, 0, 1, a, 3, b, 2, 0, c, 2)
	for _, v := range c {
		if v != 0 {
			t.Fatalf("k=0, beta=0: c = %v, want zeros", c)
		}
	}
}

// BenchmarkSgemm compares this package's float32 GEMM with gonum's on
// the shapes of MobileNetV2's 1x1 convolutions at 224x224 (rows = pixels,
// k = input channels, n = output channels) and a square product.
func BenchmarkSgemm(b *testing.B) {
	shapes := [][3]int{{12544, 96, 16}, {3136, 144, 24}, {784, 192, 32}, {196, 384, 64}, {49, 960, 160}, {196, 64, 384}, {196, 96, 576}, {49, 160, 960}, {49, 320, 960}, {49, 1280, 320}, {512, 512, 512}}
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		flop := 2 * float64(m) * float64(n) * float64(k)
		impls := []struct {
			name string
			f    func()
		}{
			{"gonum", func() {
				blas32Impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, bb, n, 0, c, n)
			}},
		}
		if haveKernel {
			impls = append(impls, struct {
				name string
				f    func()
			}{"kernel", func() { sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, nil) }})
		}
		for _, im := range impls {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, im.name), func(b *testing.B) {
				for b.Loop() {
					im.f()
				}
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestGemmEpilogueTiles checks that the epilogue rectangles tile C exactly
// once, and only after C is final: the epilogue negates its rectangle, so
// a tile seen twice or before its last k slice gives a wrong result.
func TestGemmEpilogueTiles(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{1, 1, 1}, {7, 17, 3}, {200, 40, 600}, {13, 1030, 9}, {500, 300, 20}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		c := make([]float32, m*n)
		want := naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		var mu sync.Mutex
		seen := make([]int, m*n)
		GemmEpilogue(false, false, m, n, k, 1, a, k, b, n, 0, c, n, func(i0, i1, j0, j1 int) {
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					c[i*n+j] = -c[i*n+j]
				}
			}
			mu.Lock()
			for i := i0; i < i1; i++ {
				for j := j0; j < j1; j++ {
					seen[i*n+j]++
				}
			}
			mu.Unlock()
		})
		for i, s := range seen {
			if s != 1 {
				t.Fatalf("%v: element %d passed to the epilogue %d times", sz, i, s)
			}
			if d := math.Abs(float64(c[i]) + want[i]); d > 1e-5*float64(k)+1e-5*math.Abs(want[i]) {
				t.Fatalf("%v: c[%d] = %g, want %g", sz, i, c[i], -want[i])
			}
		}
	}
}

// BenchmarkSgemmPackA compares reading A in place with packing it.
func BenchmarkSgemmPackA(b *testing.B) {
	if !haveKernel {
		b.Skip("no micro-kernel")
	}
	shapes := [][3]int{{12544, 96, 16}, {3136, 144, 24}, {784, 576, 96}, {196, 384, 64}, {49, 1280, 320}, {512, 512, 512}}
	r := rand.New(rand.NewPCG(5, 6))
	defer func() { inPlaceA = true }()
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		for _, in := range []bool{true, false} {
			b.Run(fmt.Sprintf("%dx%dx%d/inplace=%v", m, n, k, in), func(b *testing.B) {
				inPlaceA = in
				for b.Loop() {
					sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, nil)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
