//go:build race

package kvtable_test

const raceEnabled = true
