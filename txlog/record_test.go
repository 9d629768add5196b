package txlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	payloads := [][]byte{nil, []byte("a"), bytes.Repeat([]byte{0xAB}, 1000)}
	var b []byte
	for i, p := range payloads {
		b = appendRecord(b, byte(i+1), p)
	}
	for i, want := range payloads {
		typ, payload, n, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if typ != byte(i+1) || !bytes.Equal(payload, want) || n != recordHeaderSize+len(want) {
			t.Fatalf("record %d: got type %d payload %d bytes n %d", i, typ, len(payload), n)
		}
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left over", len(b))
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := appendRecord(nil, recEntry, []byte("hello, world"))
	tooLarge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(tooLarge, maxRecordSize+1)
	flippedType := bytes.Clone(good)
	flippedType[8] ^= 1
	flippedPayload := bytes.Clone(good)
	flippedPayload[len(good)-1] ^= 0x80
	flippedCRC := bytes.Clone(good)
	flippedCRC[5] ^= 4

	for _, tc := range []struct {
		name  string
		b     []byte
		want  error
		wantN int
	}{
		{"empty", nil, errRecordTruncated, 0},
		{"short header", good[:recordHeaderSize-1], errRecordTruncated, 0},
		{"short payload", good[:len(good)-1], errRecordTruncated, 0},
		{"too large", tooLarge, errRecordTooLarge, 0},
		{"flipped type", flippedType, errRecordChecksum, len(good)},
		{"flipped payload", flippedPayload, errRecordChecksum, len(good)},
		{"flipped crc", flippedCRC, errRecordChecksum, len(good)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, n, err := decodeRecord(tc.b)
			if !errors.Is(err, tc.want) || n != tc.wantN {
				t.Fatalf("got n=%d err=%v, want n=%d err=%v", n, err, tc.wantN, tc.want)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	good := appendRecord(nil, recEntry, []byte("hello, world"))
	two := appendRecord(bytes.Clone(good), recHardState, []byte{1, 2, 3})
	f.Add(good)
	f.Add(two)
	f.Add(appendRecord(nil, recSnapMark, make([]byte, 16)))
	f.Add(appendRecord(nil, 0, nil))
	for _, cut := range []int{0, 1, 4, 8, 9, len(good) - 1} {
		f.Add(good[:cut])
	}
	for _, bit := range []int{0, 7, 31, 35, 64, 71, 80, len(good)*8 - 1} {
		b := bytes.Clone(good)
		b[bit/8] ^= 1 << (bit % 8)
		f.Add(b)
	}
	huge := bytes.Clone(good)
	binary.LittleEndian.PutUint32(huge, 0xFFFFFFFF)
	f.Add(huge)

	f.Fuzz(func(t *testing.T, b []byte) {
		typ, payload, n, err := decodeRecord(b)
		if n < 0 || n > len(b) {
			t.Fatalf("n = %d outside [0, %d]", n, len(b))
		}
		if err != nil {
			if payload != nil {
				t.Fatalf("payload returned with error %v", err)
			}
			return
		}
		if n != recordHeaderSize+len(payload) {
			t.Fatalf("n = %d for a payload of %d bytes", n, len(payload))
		}
		if re := appendRecord(nil, typ, payload); !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", re, b[:n])
		}
		if _, _, _, err := decodeRecord(b[:n-1]); !errors.Is(err, errRecordTruncated) {
			t.Fatalf("record cut by one byte: err = %v, want truncated", err)
		}
	})
}
