// Package render writes a capacity report ([plan.CapacityReport], what
// `edgesim plan` produces) as report.json, report.md and a self-contained
// report.html with plots: p95 latency against cameras per node per
// hardware class with the SLO line, uplink per site against cameras per
// site for edge and cloud placement, and the emulated points drawn over
// the simulated curves.
//
// It is apart from plan so that code that only simulates does not link
// the plotting code.
package render
