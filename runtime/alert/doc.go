// Package alert carries zone/dwell alerts (wire.Alert, contract C3) from an
// edge node to the cloud tier: a Forwarder with a bounded, fsynced on-disk
// spool (store-and-forward while the uplink is down) that delivers in
// batches and drops an alert only when the cloud names it invalid, and the
// cloud-side Store that receives, deduplicates by id and records them in an
// fsynced JSONL file. docs/protocol.md §4 is the contract.
package alert
