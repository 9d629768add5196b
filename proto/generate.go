// Package proto holds Verdict's gRPC API (verdict/v1) and its generated Go
// code. Run `go generate ./proto/...` to regenerate it; it needs protoc,
// protoc-gen-go and protoc-gen-go-grpc on PATH.
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative verdict/v1/verdict.proto
