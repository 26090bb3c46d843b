//go:build openblas

package openblaslink

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
import "C"

// SingleThreaded makes every OpenBLAS call run on the calling thread: the
// engine splits products among its own workers (package parallel), and two
// pools of spinning threads on the same cores slow each other down.
func SingleThreaded() { C.openblas_set_num_threads(1) }
