// Package alert carries zone/dwell alerts (wire.Alert, contract C3) from an
// edge node to the cloud tier: a Forwarder with a bounded on-disk spool
// (store-and-forward while the uplink is down), and the cloud-side Store that
// receives, deduplicates by id and records them.
package alert
