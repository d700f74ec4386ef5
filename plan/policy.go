package plan

import "time"

// This file is the one place where the simulator carries its own copy of
// edgenode policies that the runtime does not expose as functions. Each
// copy names the runtime code it mirrors; when that code becomes a small
// exported function, the simulator must call it instead and this file
// shrinks. The zone/dwell rule is not copied: the simulator runs
// runtime/rules' Engine itself.

// sampleInterval and skipSample mirror the detect-fps sampling in
// runtime/server/session.go (ingest.newIngest and ingest.push): a decoded
// frame is skipped when less than 90 % of the interval (in 90 kHz RTP
// ticks) has passed since the last sampled frame of the stream.
// To extract: func Sample(interval, lastRTP uint32, sampled bool, rtp uint32) bool.
func sampleInterval(fps float64) uint32 {
	if fps > 0 {
		return uint32(90000 / fps)
	}
	return 0
}

func skipSample(interval, last uint32, sampled bool, rtp uint32) bool {
	return interval > 0 && sampled && rtp-last < interval-interval/10
}

// tooOld mirrors the max frame age check of runtime/pipeline's
// Pipeline.run: a frame older than maxAge (since its last packet arrived)
// when a worker takes it is dropped as stale without inference.
// To extract: func Stale(age, maxAge time.Duration) bool.
func tooOld(age, maxAge time.Duration) bool { return maxAge > 0 && age > maxAge }

// The latest-frame-wins queue (runtime/pipeline: Stream.Submit,
// Pipeline.enqueueLocked, Pipeline.run) is mirrored by stream.submit,
// node.enqueue and node.take in node.go: per stream one pending frame that
// a newer one replaces (stale), at most one frame per stream in
// inference, and a FIFO of streams bounded by the queue depth that drops
// the frame when full (queue_full). To extract: a clock-free
// pipeline.Scheduler with Submit(stream, frame) and Next() (stream, frame),
// which both Pipeline and the simulator drive.
