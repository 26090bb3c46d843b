package bundle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// This file reads the LevelDB-format SSTable that TensorFlow writes as a
// bundle's .index file (tensorflow/core/lib/io/table*). It is written from
// the format description (footer, block handles, prefix-compressed blocks
// with restart points, 5-byte block trailers) rather than with
// goleveldb's table reader so that every length read from the file is
// checked before it is used: a bundle index is untrusted input. The tests
// compare it against goleveldb's reader on the real index files.

const (
	footerLen       = 48                 // two padded block handles + magic
	tableMagic      = 0xdb4775248b80fb57 // kTableMagicNumber, little-endian
	blockTrailerLen = 5                  // compression type + masked CRC32C

	// Bounds on what a (possibly hostile) index may make us allocate.
	maxKeyLen      = 1 << 20
	maxTotalKeyLen = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcMaskDelta is the constant of LevelDB/TensorFlow's CRC masking
// (crc32c::Mask in tensorflow/core/lib/hash/crc32c.h).
const crcMaskDelta = 0xa282ead8

// maskCRC returns the masked form of a CRC32C, as stored in table block
// trailers and in BundleEntryProto.crc32c.
func maskCRC(c uint32) uint32 { return ((c >> 15) | (c << 17)) + crcMaskDelta }

// unmaskCRC inverts maskCRC.
func unmaskCRC(m uint32) uint32 {
	r := m - crcMaskDelta
	return (r >> 17) | (r << 15)
}

// kv is one table entry; key and value alias fresh memory (value aliases
// the table bytes).
type kv struct {
	key, value []byte
}

type blockHandle struct{ offset, size uint64 }

// decodeHandle decodes a varint64 offset and size.
func decodeHandle(b []byte) (blockHandle, int, error) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return blockHandle{}, 0, errors.New("bad block handle offset")
	}
	size, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return blockHandle{}, 0, errors.New("bad block handle size")
	}
	return blockHandle{off, size}, n + m, nil
}

// readTable returns every entry of an SSTable held in data, in key order,
// checking block checksums, bounds and that keys strictly increase.
func readTable(data []byte) ([]kv, error) {
	if len(data) < footerLen {
		return nil, fmt.Errorf("table is %d bytes, shorter than its %d-byte footer", len(data), footerLen)
	}
	footer := data[len(data)-footerLen:]
	if binary.LittleEndian.Uint64(footer[footerLen-8:]) != tableMagic {
		return nil, errors.New("bad table magic number (not a TensorFlow bundle index)")
	}
	_, n, err := decodeHandle(footer) // metaindex: unused (no filters in bundles)
	if err != nil {
		return nil, fmt.Errorf("table footer: metaindex: %w", err)
	}
	indexBH, _, err := decodeHandle(footer[n:])
	if err != nil {
		return nil, fmt.Errorf("table footer: index: %w", err)
	}
	limit := uint64(len(data) - footerLen)
	index, err := readBlock(data, limit, indexBH)
	if err != nil {
		return nil, fmt.Errorf("index block: %w", err)
	}
	total := 0
	handles, err := blockEntries(index, &total)
	if err != nil {
		return nil, fmt.Errorf("index block: %w", err)
	}
	var out []kv
	for i, h := range handles {
		bh, _, err := decodeHandle(h.value)
		if err != nil {
			return nil, fmt.Errorf("index entry %d: %w", i, err)
		}
		blk, err := readBlock(data, limit, bh)
		if err != nil {
			return nil, fmt.Errorf("data block %d: %w", i, err)
		}
		kvs, err := blockEntries(blk, &total)
		if err != nil {
			return nil, fmt.Errorf("data block %d: %w", i, err)
		}
		for _, e := range kvs {
			if len(out) > 0 && bytes.Compare(out[len(out)-1].key, e.key) >= 0 {
				return nil, fmt.Errorf("data block %d: key %q does not sort after %q", i, e.key, out[len(out)-1].key)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// readBlock returns the contents of the block at bh after checking its
// trailer (uncompressed type, masked CRC32C over contents and type byte).
func readBlock(data []byte, limit uint64, bh blockHandle) ([]byte, error) {
	if bh.offset > limit || bh.size > limit-bh.offset || limit-bh.offset-bh.size < blockTrailerLen {
		return nil, fmt.Errorf("block [%d, +%d) runs past the end of the table (%d bytes before the footer)", bh.offset, bh.size, limit)
	}
	end := bh.offset + bh.size
	blk := data[bh.offset:end]
	typ := data[end]
	stored := binary.LittleEndian.Uint32(data[end+1:])
	crc := crc32.Update(crc32.Checksum(blk, castagnoli), castagnoli, []byte{typ})
	if maskCRC(crc) != stored {
		return nil, fmt.Errorf("block at offset %d: checksum mismatch (stored %#08x, computed %#08x)", bh.offset, stored, maskCRC(crc))
	}
	if typ != 0 {
		return nil, fmt.Errorf("block at offset %d: compression type %d is not supported (TensorFlow writes bundle indexes uncompressed)", bh.offset, typ)
	}
	return blk, nil
}

// blockEntries decodes a block's prefix-compressed entries. total, when
// non-nil, accumulates the key bytes allocated so far, which is bounded
// by maxTotalKeyLen (prefix sharing lets a small block describe many long
// keys).
func blockEntries(blk []byte, total *int) ([]kv, error) {
	if len(blk) < 4 {
		return nil, fmt.Errorf("block of %d bytes has no restart count", len(blk))
	}
	nRestarts := binary.LittleEndian.Uint32(blk[len(blk)-4:])
	if uint64(nRestarts) > uint64(len(blk)-4)/4 {
		return nil, fmt.Errorf("block claims %d restart points in %d bytes", nRestarts, len(blk))
	}
	body := blk[:len(blk)-4-4*int(nRestarts)]
	var out []kv
	var prev []byte
	for p := 0; p < len(body); {
		shared, n1 := binary.Uvarint(body[p:])
		if n1 <= 0 {
			return nil, fmt.Errorf("entry at %d: bad shared-length varint", p)
		}
		nonShared, n2 := binary.Uvarint(body[p+n1:])
		if n2 <= 0 {
			return nil, fmt.Errorf("entry at %d: bad key-length varint", p)
		}
		vlen, n3 := binary.Uvarint(body[p+n1+n2:])
		if n3 <= 0 {
			return nil, fmt.Errorf("entry at %d: bad value-length varint", p)
		}
		q := p + n1 + n2 + n3
		rest := uint64(len(body) - q)
		if shared > uint64(len(prev)) {
			return nil, fmt.Errorf("entry at %d shares %d key bytes with a %d-byte previous key", p, shared, len(prev))
		}
		if nonShared > rest || vlen > rest-nonShared {
			return nil, fmt.Errorf("entry at %d (key %d+%d bytes, value %d bytes) runs past the block end", p, shared, nonShared, vlen)
		}
		klen := shared + nonShared
		if klen > maxKeyLen {
			return nil, fmt.Errorf("entry at %d: %d-byte key is longer than %d bytes", p, klen, maxKeyLen)
		}
		if total != nil {
			*total += int(klen)
			if *total > maxTotalKeyLen {
				return nil, fmt.Errorf("keys total more than %d bytes", maxTotalKeyLen)
			}
		}
		key := make([]byte, 0, klen)
		key = append(key, prev[:shared]...)
		key = append(key, body[q:q+int(nonShared)]...)
		q += int(nonShared)
		out = append(out, kv{key: key, value: body[q : q+int(vlen)]})
		prev = key
		p = q + int(vlen)
	}
	return out, nil
}
