//go:build !race

package multitest

const raceEnabled = false
