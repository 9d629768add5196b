// Package proto holds Verdict's protobuf definitions and their generated Go
// code: the public gRPC API (verdict/v1: the Coordinator, Participant and
// Admin services), the Raft peer protocol between coordinator nodes
// (verdict/peer/v1: the Raft service and the snapshot envelope) and the
// records of the replicated decision log (verdict/log/v1). Run
// `go generate ./proto/...` to regenerate it; it needs protoc, protoc-gen-go
// and protoc-gen-go-grpc on PATH.
package proto

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative verdict/v1/verdict.proto
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative verdict/peer/v1/peer.proto
//go:generate protoc --go_out=. --go_opt=paths=source_relative verdict/log/v1/log.proto
