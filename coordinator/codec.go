package coordinator

import (
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// pooledAnswerMax is the largest answer encoded into one of gRPC's pooled
// buffers. The pool's sizes jump from 32 KiB to 1 MiB: a 33 KiB answer
// would take a 1 MiB buffer, which stays on the node for as long as the
// caller leaves the answer unread.
const pooledAnswerMax = 32 << 10

// answerCodec is gRPC's proto codec, except that it encodes a message
// larger than pooledAnswerMax into a buffer of its own size, so that an
// unread answer holds no more than its size.
type answerCodec struct{ encoding.CodecV2 }

func newAnswerCodec() answerCodec {
	return answerCodec{encoding.GetCodecV2(grpcproto.Name)}
}

func (c answerCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok || proto.Size(m) <= pooledAnswerMax {
		return c.CodecV2.Marshal(v)
	}
	b, err := proto.MarshalOptions{UseCachedSize: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}
