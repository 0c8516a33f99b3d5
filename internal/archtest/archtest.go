// Package archtest holds no code of its own: its tests check the project's
// structural rules (STYLE.md) over the whole module: every package has a
// doc comment, no package is named util/common/misc/helpers, and the import
// graph points downwards (surfaces → client → meta/data → kv/objstore).
package archtest
