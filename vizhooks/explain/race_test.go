//go:build race

package explain_test

// raceEnabled is true under the race detector, which makes the large
// shared models too slow for the test budget.
const raceEnabled = true
