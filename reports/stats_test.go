package reports_test

import (
	"bytes"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/reports"
)

func msList(vals ...int) []time.Duration {
	out := make([]time.Duration, len(vals))
	for i, v := range vals {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func oneTo(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		// reversed, to show the input order does not matter
		out[i] = time.Duration(n-i) * time.Millisecond
	}
	return out
}

var _ = Describe("Distribution", func() {
	DescribeTable("nearest-rank percentiles",
		func(samples []time.Duration, p float64, want time.Duration) {
			Expect(reports.NewDistribution(samples).Percentile(p)).To(Equal(want))
		},
		Entry("p50 of 1..100", oneTo(100), 50.0, 50*time.Millisecond),
		Entry("p90 of 1..100", oneTo(100), 90.0, 90*time.Millisecond),
		Entry("p95 of 1..100", oneTo(100), 95.0, 95*time.Millisecond),
		Entry("p99 of 1..100", oneTo(100), 99.0, 99*time.Millisecond),
		Entry("p100 is the max", oneTo(100), 100.0, 100*time.Millisecond),
		Entry("p95 of 1..10 rounds up to a real sample", oneTo(10), 95.0, 10*time.Millisecond),
		Entry("p50 of 1..10", oneTo(10), 50.0, 5*time.Millisecond),
		Entry("p50 of an even pair is the lower", msList(20, 10), 50.0, 10*time.Millisecond),
		Entry("p51 of an even pair is the upper", msList(20, 10), 51.0, 20*time.Millisecond),
		Entry("single sample", msList(42), 99.0, 42*time.Millisecond),
		Entry("no samples", nil, 95.0, time.Duration(0)),
		Entry("outlier only shows at the tail", append(msList(10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10), 900*time.Millisecond), 95.0, 10*time.Millisecond),
	)

	It("summarises count, min, mean and max", func() {
		d := reports.NewDistribution(msList(30, 10, 20))
		Expect(d.Count).To(Equal(3))
		Expect(d.MinMs).To(Equal(10.0))
		Expect(d.MeanMs).To(Equal(20.0))
		Expect(d.MaxMs).To(Equal(30.0))
	})

	It("keeps the standard percentiles across a JSON round trip", func() {
		b, err := json.Marshal(reports.NewDistribution(oneTo(100)))
		Expect(err).NotTo(HaveOccurred())
		var d reports.Distribution
		Expect(json.Unmarshal(b, &d)).To(Succeed())
		Expect(d.Percentile(95)).To(Equal(95 * time.Millisecond))
		Expect(d.Percentile(99)).To(Equal(99 * time.Millisecond))
		Expect(d.Percentile(42)).To(Equal(time.Duration(-1)), "unknown percentile after decoding")
		_, ok := d.PercentileOK(42)
		Expect(ok).To(BeFalse())
	})

	It("keeps every whole percentile of the overall, site and placement latency in report.json", func() {
		res := mustAnalyze(fixtureRun())
		var buf bytes.Buffer
		Expect(reports.WriteJSON(&buf, res)).To(Succeed())
		back, err := reports.ReadResult(&buf)
		Expect(err).NotTo(HaveOccurred())
		for _, scope := range []string{"", "site-a", "cloud"} {
			for _, p := range []float64{1, 42, 75, 97, 100} {
				v, ok := back.Latency(scope).PercentileOK(p)
				Expect(ok).To(BeTrue(), "p%v of %q", p, scope)
				Expect(v).To(Equal(res.Latency(scope).Percentile(p)), "p%v of %q", p, scope)
			}
		}
		_, ok := back.Latency("cam-a1").PercentileOK(97)
		Expect(ok).To(BeFalse(), "per-camera distributions keep only the summary")
	})

	It("gives a CDF ending at the max with fraction 1", func() {
		xs, ys := reports.NewDistribution(oneTo(1000)).CDF(100)
		Expect(len(xs)).To(BeNumerically("<=", 101))
		Expect(xs[len(xs)-1]).To(Equal(1000.0))
		Expect(ys[len(ys)-1]).To(Equal(1.0))
		Expect(ys).To(HaveEach(BeNumerically(">", 0)))
	})
})

var _ = Describe("EvaluateDetections", func() {
	person := func(x int) reports.TruthObject {
		return reports.TruthObject{Label: "person", Box: reports.Box{x, 0, x + 40, 100}}
	}
	det := func(x int, score float32) reports.Detection {
		return reports.Detection{Label: "person", Score: score, Box: reports.Box{x, 0, x + 40, 100}}
	}
	type want struct {
		tp, fp, fn int
		precision  float64
		recall     float64
		ap         float64
	}
	DescribeTable("AP@0.5, precision and recall for one class",
		func(frames []reports.ScoredFrame, w want) {
			acc := reports.EvaluateDetections(frames, 0.5, 0.7)
			Expect(acc.Classes).To(HaveLen(1))
			c := acc.Classes[0]
			Expect([]int{c.TruePositives, c.FalsePositives, c.FalseNegatives}).To(Equal([]int{w.tp, w.fp, w.fn}))
			Expect(c.Precision).To(BeNumerically("~", w.precision, 1e-4))
			Expect(c.Recall).To(BeNumerically("~", w.recall, 1e-4))
			Expect(c.AP50).To(BeNumerically("~", w.ap, 1e-4))
		},
		Entry("every object found", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0), person(200)}, Detections: []reports.Detection{det(2, 0.9), det(198, 0.8)}},
		}, want{2, 0, 0, 1, 1, 1}),
		Entry("half the objects missed", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0), person(200)}, Detections: []reports.Detection{det(0, 0.9)}},
		}, want{1, 0, 1, 1, 0.5, 0.5}),
		Entry("a confident false positive ranks first", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(300, 0.99), det(0, 0.5)}},
		}, want{1, 1, 0, 0.5, 1, 0.5}),
		Entry("a low-scored false positive does not lower AP", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(300, 0.2), det(0, 0.9)}},
		}, want{1, 1, 0, 0.5, 1, 1}),
		Entry("a duplicate of a matched object is a false positive", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(0, 0.9), det(3, 0.8)}},
		}, want{1, 1, 0, 0.5, 1, 1}),
		Entry("IoU below 0.5 is a miss and a false positive", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(25, 0.9)}},
		}, want{0, 1, 1, 0, 0, 0}),
		Entry("a detection only matches in its own frame", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0)}},
			{Detections: []reports.Detection{det(0, 0.9)}},
		}, want{0, 1, 1, 0, 0, 0}),
		Entry("greedy by score across frames", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(0, 0.9)}},
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(500, 0.8)}},
			{Truth: []reports.TruthObject{person(0)}, Detections: []reports.Detection{det(0, 0.7)}},
		}, // ranked: TP (p1 r1/3), FP (p1/2), TP (p2/3 r2/3): AP = 1/3*1 + 1/3*2/3
			want{2, 1, 1, 0.6667, 0.6667, 1.0/3 + 2.0/9}),
		Entry("heavily occluded objects are not required", []reports.ScoredFrame{
			{Truth: []reports.TruthObject{person(0), {Label: "person", Box: reports.Box{200, 0, 240, 100}, Occlusion: 0.9}},
				Detections: []reports.Detection{det(0, 0.9), det(200, 0.8)}},
		}, want{1, 0, 0, 1, 1, 1}),
	)

	It("averages AP over classes with ground truth and pools precision and recall", func() {
		acc := reports.EvaluateDetections([]reports.ScoredFrame{{
			Truth: []reports.TruthObject{person(0), {Label: "vehicle", Box: reports.Box{300, 0, 400, 50}}},
			Detections: []reports.Detection{det(0, 0.9),
				{Label: "dog", Score: 0.7, Box: reports.Box{0, 200, 10, 210}}},
		}}, 0.5, 0)
		Expect(acc.Classes).To(HaveLen(3))
		Expect(acc.Classes[0].Label).To(Equal("dog"))
		Expect(acc.MeanAP50).To(Equal(0.5)) // person 1, vehicle 0; dog has no ground truth
		Expect(acc.Precision).To(Equal(0.5))
		Expect(acc.Recall).To(Equal(0.5))
	})

	It("computes IoU", func() {
		Expect(reports.IoU(reports.Box{0, 0, 10, 10}, reports.Box{0, 0, 10, 10})).To(Equal(1.0))
		Expect(reports.IoU(reports.Box{0, 0, 10, 10}, reports.Box{5, 0, 15, 10})).To(BeNumerically("~", 1.0/3, 1e-9))
		Expect(reports.IoU(reports.Box{0, 0, 10, 10}, reports.Box{10, 0, 20, 10})).To(Equal(0.0))
		Expect(reports.IoU(reports.Box{0, 0, 0, 0}, reports.Box{0, 0, 0, 0})).To(Equal(0.0))
	})
})
