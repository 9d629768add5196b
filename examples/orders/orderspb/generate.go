// Package orderspb is the gRPC API of the orders example's order service
// (orders.proto) and its generated code; `go generate` regenerates it with
// protoc, protoc-gen-go and protoc-gen-go-grpc.
package orderspb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative orders.proto
