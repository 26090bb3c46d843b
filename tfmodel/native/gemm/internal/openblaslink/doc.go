// Package openblaslink links OpenBLAS (-lopenblas) into binaries built
// with the openblas tag, so no CGO_LDFLAGS are needed. It holds no code: it
// is its own package because Go does not allow cgo and Go assembly (the
// gemm package's micro-kernel) in one package.
package openblaslink
