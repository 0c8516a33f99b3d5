// Package shoalv1 is the Go code generated from api/shoal/v1/shoal.proto
// (messages and the Meta, Session and Admin gRPC services). Do not edit
// the .pb.go files: change the .proto and run `make proto`. Field numbers
// are append-only (see the .proto).
package shoalv1
