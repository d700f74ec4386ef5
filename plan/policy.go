package plan

// This file is the one place where the simulator carries its own copy of
// an edgenode policy that the runtime does not expose as a function. The
// zone/dwell rule (runtime/rules' Engine), detect-fps sampling
// (pipeline.SampleInterval, SkipSample) and the max frame age
// (pipeline.Stale) are not copied: the simulator calls the runtime's own.

// The latest-frame-wins queue (runtime/pipeline: Stream.Submit,
// Pipeline.enqueueLocked, Pipeline.run) is mirrored by stream.submit,
// node.enqueue and node.take in node.go: per stream one pending frame that
// a newer one replaces (stale), at most one frame per stream in
// inference, and a FIFO of streams bounded by the queue depth that drops
// the frame when full (queue_full). To extract: a clock-free
// pipeline.Scheduler with Submit(stream, frame) and Next() (stream, frame),
// which both Pipeline and the simulator drive.
