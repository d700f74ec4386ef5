// Package calibrate measures the real parts of edgesim for the capacity
// planner (`edgesim plan calibrate`): the inference service time of the
// real detector and the libvpx decode cost on a hardware class, the
// encoded-size process of fakecam's scenes and encoder, and the failover
// step timings that earlier runs recorded. Each measurement returns a
// plan.Calibration fragment that plan.Merge folds into a calibration file.
//
// It is a library: it never prints; progress goes to a callback.
package calibrate

import "time"

// Progress reports a long measurement's advance: Done of Total units of
// Stage ("encoding 600Kbit@10fps", "inference default"), Total 0 when
// unknown.
type Progress struct {
	Stage string
	Done  int
	Total int
}

// ProgressFunc receives Progress; nil means nobody listens.
type ProgressFunc func(Progress)

func (f ProgressFunc) report(stage string, done, total int) {
	if f != nil {
		f(Progress{Stage: stage, Done: done, Total: total})
	}
}

// seconds converts a duration to float seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }
