package plan

// The simulator carries no copy of an edgenode policy: it calls the
// runtime's own. The zone/dwell rule (runtime/rules' Engine) and night by
// luma (rules.MeanLuma, rules.NightLuma), detect-fps sampling
// (pipeline.SampleInterval, SkipSample), the max frame age
// (pipeline.Stale) and each stream's latest-frame-wins state
// (pipeline.Slot: one frame waiting, a newer one replacing it, at most one
// in inference), which Pipeline's Stream keeps too, and the frame
// assembler's give-up rule (pipeline.GiveUpHead, runtime/media's) and NACK
// interval (pipeline.NACKInterval, edgenode's). What stays the
// simulator's own is the clock around them: node.enqueue's FIFO of
// streams bounded by the queue depth (the runtime's buffered channel,
// dropping the frame when full: queue_full) and node.dispatch's workers
// taking streams off it the moment one is queued (Pipeline.work), and the
// NACK round around the assembler (domain.videoLost to nackLand), pion's
// interceptors in edgenode and fakecam.
