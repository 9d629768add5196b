package txlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/proto"
)

// A record is the unit of the WAL and of snapshot files:
//
//	length uint32  payload length, little endian
//	crc    uint32  CRC-32C (Castagnoli) of type and payload, little endian
//	type   uint8
//	payload [length]byte
const recordHeaderSize = 9

// maxRecordSize bounds the payload of a WAL record. A larger length in a
// header is corruption, never an allocation request.
const maxRecordSize = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned when stored log or snapshot data fails its checksum
// or is malformed anywhere but in a torn tail. It is wrapped with the file and
// offset where the damage was found.
var ErrCorrupt = errors.New("txlog: corrupt data")

// Framing errors of decodeRecord. The WAL decides from them whether damage is
// a torn tail (truncated away) or corruption (ErrCorrupt).
var (
	errRecordTruncated = errors.New("record truncated")
	errRecordTooLarge  = errors.New("record length above limit")
	errRecordChecksum  = errors.New("record checksum mismatch")
)

// decodeRecord decodes the record at the start of b with the WAL's size limit.
// See decodeRecordMax.
func decodeRecord(b []byte) (typ byte, payload []byte, n int, err error) {
	return decodeRecordMax(b, maxRecordSize)
}

// decodeRecordMax decodes the record at the start of b. On success n is the
// record's full size and payload aliases b. On errRecordChecksum n is the size
// the damaged record claims (so the caller can tell whether bytes follow it);
// on other errors n is 0. It never panics and never allocates from a length
// it has not checked against max.
func decodeRecordMax(b []byte, max uint32) (typ byte, payload []byte, n int, err error) {
	if len(b) < recordHeaderSize {
		return 0, nil, 0, errRecordTruncated
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	if length > max {
		return 0, nil, 0, errRecordTooLarge
	}
	total := recordHeaderSize + int(length)
	if len(b) < total {
		return 0, nil, 0, errRecordTruncated
	}
	if crc32.Checksum(b[8:total], crcTable) != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, nil, total, errRecordChecksum
	}
	return b[8], b[recordHeaderSize:total:total], total, nil
}

// appendRecord appends a record of type typ holding payload to dst.
func appendRecord(dst []byte, typ byte, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderSize)...)
	dst = append(dst, payload...)
	return sealRecord(dst, start, typ)
}

// appendProtoRecord appends a record holding m, marshaled in place. It fails
// if the payload is larger than max; dst is then returned unchanged.
func appendProtoRecord(dst []byte, typ byte, m proto.Message, max int) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderSize)...)
	dst, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return dst[:start], err
	}
	if size := len(dst) - start - recordHeaderSize; size > max {
		return dst[:start], fmt.Errorf("txlog: record of %d bytes exceeds the limit of %d", size, max)
	}
	return sealRecord(dst, start, typ), nil
}

// sealRecord fills in the header of the record that starts at start and whose
// payload runs to the end of b.
func sealRecord(b []byte, start int, typ byte) []byte {
	h := b[start:]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(h)-recordHeaderSize))
	h[8] = typ
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(h[8:], crcTable))
	return b
}
