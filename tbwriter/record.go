package tbwriter

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
)

// MaxRecordSize is the largest record payload, in bytes, that a Writer
// writes and a Reader accepts. A length field above it is reported as
// corruption before anything is allocated for it.
const MaxRecordSize = 1 << 30

// headerSize is the size of a record's length field plus its CRC;
// footerSize is the size of the data CRC.
const (
	headerSize = 12
	footerSize = 4
)

// castagnoli is the CRC-32C table, built once.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcMaskDelta is added to the rotated CRC by [MaskedCRC].
const crcMaskDelta = 0xa282ead8

// MaskCRC applies TFRecord's CRC mask to a CRC-32C value:
// ((c >> 15) | (c << 17)) + 0xa282ead8.
func MaskCRC(c uint32) uint32 {
	return ((c >> 15) | (c << 17)) + crcMaskDelta
}

// MaskedCRC returns the masked CRC-32C (Castagnoli) checksum of b, as stored
// in TFRecord framing.
func MaskedCRC(b []byte) uint32 {
	return MaskCRC(crc32.Checksum(b, castagnoli))
}

// appendRecord appends the TFRecord framing of data to dst.
func appendRecord(dst, data []byte) []byte {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], MaskedCRC(hdr[:8]))
	dst = append(dst, hdr[:]...)
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, MaskedCRC(data))
}

// writeRecord writes the TFRecord framing of data to w without copying data
// into an intermediate buffer.
func writeRecord(w *bufio.Writer, data []byte) error {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[8:], MaskedCRC(hdr[:8]))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	var ftr [footerSize]byte
	binary.LittleEndian.PutUint32(ftr[:], MaskedCRC(data))
	_, err := w.Write(ftr[:])
	return err
}
