package rules_test

import (
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/runtime/rules"
)

func TestRules(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Rules Suite")
}

const valid = `
zones:
  - name: door
    rect: [0.5, 0.5, 1.0, 1.0]
rules:
  - name: loiter-door
    zone: door
    label: person
    dwell: 3s
  - name: night-car
    zone: door
    label: vehicle
    dwell: 0s
    night_only: true
night:
  from: "20:00"
  to: "06:00"
`

var _ = Describe("Config", func() {
	It("parses YAML with durations", func() {
		c, err := rules.Parse([]byte(valid))
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Rules).To(HaveLen(2))
		Expect(c.Rules[0].Dwell).To(Equal(3 * time.Second))
	})

	It("parses JSON too, and loads files", func() {
		p := filepath.Join(GinkgoT().TempDir(), "r.json")
		Expect(os.WriteFile(p, []byte(`{"zones":[{"name":"a","rect":[0,0,1,1]}],"rules":[{"name":"r","zone":"a","label":"person","dwell":"2s"}]}`), 0o600)).To(Succeed())
		c, err := rules.Load(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Rules[0].Dwell).To(Equal(2 * time.Second))
	})

	It("accepts an empty file", func() {
		c, err := rules.Parse(nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Rules).To(BeEmpty())
	})

	It("rejects unknown fields", func() {
		_, err := rules.Parse([]byte("zonez: []\n"))
		Expect(err).To(MatchError(rules.ErrInvalid))
		Expect(err.Error()).To(ContainSubstring("zonez"))
	})

	It("collects every problem with its path", func() {
		_, err := rules.Parse([]byte(`
zones:
  - name: a
    rect: [0.5, 0, 0.2, 2]
rules:
  - zone: nowhere
    dwell: -1s
    night_only: true
night: {from: "25:00"}
`))
		Expect(err).To(MatchError(rules.ErrInvalid))
		for _, s := range []string{"zones[0].rect", "rules[0].name", "rules[0].zone", "rules[0].label", "rules[0].dwell", "rules[0].night_only", "night.from"} {
			Expect(err.Error()).To(ContainSubstring(s))
		}
	})

	It("judges night by time of day across midnight", func() {
		c, _ := rules.Parse([]byte(valid))
		day := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		Expect(c.IsNight(day, 200)).To(BeFalse())
		Expect(c.IsNight(day.Add(9*time.Hour), 200)).To(BeTrue())
		Expect(c.IsNight(day.Add(-7*time.Hour), 200)).To(BeTrue())
		Expect(c.IsNight(day.Add(-6*time.Hour), 200)).To(BeFalse())
	})

	It("judges night by luma when luma_below is set", func() {
		c := &rules.Config{Night: rules.Night{LumaBelow: 50}}
		Expect(c.IsNight(time.Time{}, 30)).To(BeTrue())
		Expect(c.IsNight(time.Time{}, 80)).To(BeFalse())
	})
})

var _ = Describe("Engine", func() {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	inDoor := image.Rect(400, 200, 440, 300) // bottom-centre (420,300) of 640x360: x .66 y .83
	outside := image.Rect(10, 10, 50, 100)   // bottom-centre (30,100)
	obs := func(d time.Duration, objs ...rules.Object) rules.Observation {
		return rules.Observation{Time: t0.Add(d), Width: 640, Height: 360, Luma: 120, Objects: objs}
	}
	var e *rules.Engine
	BeforeEach(func() {
		c, err := rules.Parse([]byte(valid))
		Expect(err).NotTo(HaveOccurred())
		e = rules.NewEngine(c, "cam1")
	})

	It("raises once after the dwell time, with first-seen and raised times", func() {
		p := rules.Object{TrackID: 7, Label: "person", Box: inDoor}
		var hits []rules.Hit
		for i := 0; i <= 20; i++ {
			hits = append(hits, e.Observe(obs(time.Duration(i)*200*time.Millisecond, p))...)
		}
		Expect(hits).To(HaveLen(1))
		Expect(hits[0]).To(Equal(rules.Hit{Rule: "loiter-door", Zone: "door", Label: "person", TrackID: 7, FirstSeen: t0, Raised: t0.Add(3 * time.Second)}))
	})

	It("ignores objects outside the zone and other labels", func() {
		for i := 0; i <= 20; i++ {
			Expect(e.Observe(obs(time.Duration(i)*time.Second, rules.Object{TrackID: 1, Label: "person", Box: outside}))).To(BeEmpty())
		}
	})

	It("restarts the dwell time after the track left the zone", func() {
		p := rules.Object{TrackID: 3, Label: "person", Box: inDoor}
		Expect(e.Observe(obs(0, p))).To(BeEmpty())
		Expect(e.Observe(obs(2*time.Second, p))).To(BeEmpty())
		Expect(e.Observe(obs(4 * time.Second))).To(BeEmpty()) // gone for longer than the grace
		Expect(e.Observe(obs(5*time.Second, p))).To(BeEmpty())
		Expect(e.Observe(obs(7*time.Second, p))).To(BeEmpty())
		Expect(e.Observe(obs(8*time.Second, p))).To(HaveLen(1))
	})

	It("applies night-only rules only at night", func() {
		v := rules.Object{TrackID: 9, Label: "vehicle", Box: inDoor}
		Expect(e.Observe(obs(0, v))).To(BeEmpty())
		hits := e.Observe(obs(10*time.Hour, v))
		Expect(hits).To(HaveLen(1))
		Expect(hits[0].Rule).To(Equal("night-car"))
	})

	It("limits zones to their cameras", func() {
		c := &rules.Config{Zones: []rules.Zone{{Name: "z", Rect: [4]float64{0, 0, 1, 1}, Cameras: []string{"other"}}},
			Rules: []rules.Rule{{Name: "r", Zone: "z", Label: "person"}}}
		Expect(rules.NewEngine(c, "cam1").Observe(obs(0, rules.Object{TrackID: 1, Label: "person", Box: inDoor}))).To(BeEmpty())
		Expect(rules.NewEngine(c, "other").ZonesOf(inDoor, 640, 360)).To(Equal([]string{"z"}))
	})
})
