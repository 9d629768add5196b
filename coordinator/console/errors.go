package console

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// describe says what a failed call answered: its gRPC code and message.
func describe(err error) string {
	st := status.Convert(err)
	return st.Code().String() + ": " + st.Message()
}

func notFound(err error) bool { return status.Code(err) == codes.NotFound }
