package pipeline

import "time"

// Scheduling policies as small pure functions, so that edgenode and the
// capacity planner's simulator (plan/) run the same rules.

// SampleInterval is the RTP (90 kHz) interval between the frames a stream
// samples for inference at fps; 0 (every frame) when fps is not positive.
func SampleInterval(fps float64) uint32 {
	if fps > 0 {
		return uint32(90000 / fps)
	}
	return 0
}

// SkipSample reports whether a decoded frame with timestamp rtp is skipped
// by detect-fps sampling: less than 90 % of interval has passed since the
// stream's last sampled frame (lastSampled; sampled says there was one).
func SkipSample(interval, lastSampled uint32, sampled bool, rtp uint32) bool {
	return interval > 0 && sampled && rtp-lastSampled < interval-interval/10
}

// Stale reports whether a frame that waited age is dropped without
// inference under the max frame age maxAge (0: never).
func Stale(age, maxAge time.Duration) bool { return maxAge > 0 && age > maxAge }
