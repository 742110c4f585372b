//go:build race

package alloctest

// raceEnabled: the race detector allocates on its own.
const raceEnabled = true
