//go:build race

package edge

// raceEnabled: the race detector allocates on its own, so allocation
// guards do not hold under it.
const raceEnabled = true
