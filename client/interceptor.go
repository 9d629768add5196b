package client

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/verdict-tx/verdict/internal/txmeta"
)

// UnaryClientInterceptor carries the transaction of a call's context (see
// Tx.Context) to the server in metadata, and records the participants that
// answer that they enlisted, so that Commit names them to the coordinator.
// Calls whose context carries no transaction pass through untouched.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		tx, ok := FromContext(ctx)
		if !ok {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		var hdr, trl metadata.MD
		opts = append(opts, grpc.Header(&hdr), grpc.Trailer(&trl))
		err := invoker(outgoing(ctx, tx), method, req, reply, cc, opts...)
		// A participant may enlist and then fail the call: record it anyway.
		tx.collect(hdr)
		tx.collect(trl)
		return err
	}
}

// StreamClientInterceptor is UnaryClientInterceptor for streaming calls.
// Participants are recorded from the response header once it has arrived.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		tx, ok := FromContext(ctx)
		if !ok {
			return streamer(ctx, desc, cc, method, opts...)
		}
		s, err := streamer(outgoing(ctx, tx), desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &txStream{ClientStream: s, tx: tx}, nil
	}
}

func outgoing(ctx context.Context, tx *Tx) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	tx.meta().Append(md)
	return metadata.NewOutgoingContext(ctx, md)
}

func (tx *Tx) collect(md metadata.MD) {
	for _, v := range md.Get(txmeta.KeyParticipant) {
		tx.addParticipant(v)
	}
}

// txStream records participants from the header of a stream, read after the
// first RecvMsg returns (it has arrived by then, so Header does not block) or
// when the caller asks for it, and from the trailer once the stream ended.
type txStream struct {
	grpc.ClientStream
	tx   *Tx
	once sync.Once
}

func (s *txStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	if err == nil {
		s.once.Do(func() { s.tx.collect(md) })
	}
	return md, err
}

func (s *txStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	s.once.Do(func() {
		md, herr := s.ClientStream.Header()
		if herr == nil {
			s.tx.collect(md)
		}
	})
	if err != nil {
		s.tx.collect(s.ClientStream.Trailer())
	}
	return err
}
