//go:build race

package stress

// raceEnabled: the race detector slows every oat process several times.
const raceEnabled = true
