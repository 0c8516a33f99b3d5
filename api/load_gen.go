package api

// load.proto stands alone (the Load service of load jobs).
//go:generate protoc --proto_path=shoal/v1 --go_out=shoalv1 --go_opt=paths=source_relative --go-grpc_out=shoalv1 --go-grpc_opt=paths=source_relative load.proto
