// Package rpc holds the protocol between a driver and its executors: the
// Executor service, generated from task.proto.
package rpc

// Regenerate with protoc 3.21 and the plugins protoc-gen-go v1.33.0
// (google.golang.org/protobuf/cmd/protoc-gen-go) and protoc-gen-go-grpc
// v1.3.0 (google.golang.org/grpc/cmd/protoc-gen-go-grpc) on PATH:
//
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative task.proto
