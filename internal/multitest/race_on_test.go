//go:build race

package multitest

const raceEnabled = true
