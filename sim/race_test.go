//go:build race

package sim

// raceEnabled: under -race the device and server SQLite databases (a C
// library transpiled to Go) run some fifty times slower, so TestSimulation
// runs fewer seeds by default; see defaultSeeds.
const raceEnabled = true
