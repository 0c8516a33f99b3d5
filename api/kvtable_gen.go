package api

// kvtable.proto imports shoal.proto (for Empty and ErrorDetail), so it is
// compiled on its own against the same proto_path. It is not named
// kv.proto: protobuf registers files by that path, etcd's client registers
// a kv.proto of its own, and a binary linking both (a server over etcd)
// would panic at start.
//go:generate protoc --proto_path=shoal/v1 --go_out=shoalv1 --go_opt=paths=source_relative --go-grpc_out=shoalv1 --go-grpc_opt=paths=source_relative kvtable.proto
