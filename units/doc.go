// Package units holds the typed values that scenarios, link models, cameras
// and the runtime share: bit rates, byte sizes, percentages, durations with
// explicit units, CPU quantities and times of day.
//
// Every type parses once from text (YAML, JSON, flags) into an exact typed
// value and prints back in a canonical spelling that parses to the same
// value. Ambiguous spellings are rejected with an explanation instead of
// being guessed: "10mbps" means megabytes per second to tc but megabits to
// most people, so it is an error here; write "10Mbit" or "10MB/s".
//
// The package is a leaf: it imports nothing of the project.
package units
