// Package api holds Shoal's protobuf definitions. The generated Go code
// (api/shoalv1) is committed so builds never need protoc; after editing a
// .proto, run `make proto` (protoc 3.21+, protoc-gen-go v1.36, and
// protoc-gen-go-grpc v1.6 on PATH), which runs the go:generate line below.
package api

//go:generate protoc --proto_path=shoal/v1 --go_out=shoalv1 --go_opt=paths=source_relative --go-grpc_out=shoalv1 --go-grpc_opt=paths=source_relative shoal.proto
