package api

// ufs.proto imports shoal.proto (for Empty), so it is compiled on its own
// against the same proto_path, like inline.proto.
//go:generate protoc --proto_path=shoal/v1 --go_out=shoalv1 --go_opt=paths=source_relative --go-grpc_out=shoalv1 --go-grpc_opt=paths=source_relative ufs.proto
