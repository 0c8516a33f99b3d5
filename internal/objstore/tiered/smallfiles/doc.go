// Package smallfiles holds the end-to-end benchmark of the tiered store:
// internal/data's small-file benchmark (metadata over Badger, a
// data.Layer) run over the file store alone and over the tiered store. It
// is a package of its own so that the object-store packages do not depend,
// even in tests, on the layers above them.
//
//	go test -run '^$' -bench . -benchtime 2x ./internal/objstore/tiered/smallfiles/
package smallfiles
