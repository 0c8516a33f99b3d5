//go:build !race

package kvtable_test

const raceEnabled = false
