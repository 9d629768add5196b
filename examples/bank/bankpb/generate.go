// Package bankpb is the gRPC API of the bank example's account service
// (bank.proto) and its generated code; `go generate` regenerates it with
// protoc, protoc-gen-go and protoc-gen-go-grpc.
package bankpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative bank.proto
