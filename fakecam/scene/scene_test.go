package scene_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/fakecam/scene"
)

func baseConfig() scene.Config {
	return scene.Config{
		Width: 640, Height: 360, FPS: 10, Background: scene.BackgroundStreet,
		Seed: 42, CameraID: "cam-1", People: 4, Vehicles: 2,
		Zones: []scene.Zone{{Name: "entrance", Rect: [4]float64{0.55, 0.55, 0.9, 0.95}}},
		Events: []scene.Event{{Kind: scene.EventLoiter, Zone: "entrance",
			Start: 20 * time.Second, End: 35 * time.Second}},
	}
}

func mustNew(cfg scene.Config) *scene.Scene {
	GinkgoHelper()
	s, err := scene.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	return s
}

func meanLuma(img *image.YCbCr) float64 {
	sum := 0
	for _, v := range img.Y {
		sum += int(v)
	}
	return float64(sum) / float64(len(img.Y))
}

var _ = Describe("Scene", func() {
	Describe("determinism", func() {
		It("gives identical pixels and objects for the same seed and camera, across instances", func() {
			a, b := mustNew(baseConfig()), mustNew(baseConfig())
			for _, i := range []int{0, 7, 250, 3000} {
				fa, fb := a.Render(i), b.Render(i)
				Expect(bytes.Equal(fa.Image.Y, fb.Image.Y)).To(BeTrue())
				Expect(bytes.Equal(fa.Image.Cb, fb.Image.Cb)).To(BeTrue())
				Expect(bytes.Equal(fa.Image.Cr, fb.Image.Cr)).To(BeTrue())
				Expect(fa.Objects).To(Equal(fb.Objects))
			}
		})

		It("renders differently for another camera id or seed", func() {
			a := mustNew(baseConfig())
			cfg := baseConfig()
			cfg.CameraID = "cam-2"
			b := mustNew(cfg)
			cfg = baseConfig()
			cfg.Seed = 43
			c := mustNew(cfg)
			Expect(bytes.Equal(a.Render(100).Image.Y, b.Render(100).Image.Y)).To(BeFalse())
			Expect(bytes.Equal(a.Render(100).Image.Y, c.Render(100).Image.Y)).To(BeFalse())
		})

		It("renders the same into a reused image", func() {
			s := mustNew(baseConfig())
			img := image.NewYCbCr(image.Rect(0, 0, 640, 360), image.YCbCrSubsampleRatio420)
			for i := range img.Y {
				img.Y[i] = 77
			}
			for _, i := range []int{3, 250, 4} {
				f, err := s.RenderInto(i, img)
				Expect(err).NotTo(HaveOccurred())
				want := s.Render(i)
				Expect(bytes.Equal(f.Image.Y, want.Image.Y)).To(BeTrue())
				Expect(bytes.Equal(f.Image.Cr, want.Image.Cr)).To(BeTrue())
				Expect(f.Objects).To(Equal(want.Objects))
			}
			_, err := s.RenderInto(0, image.NewYCbCr(image.Rect(0, 0, 320, 180), image.YCbCrSubsampleRatio420))
			Expect(err).To(MatchError(ContainSubstring("RenderInto needs")))
		})

		It("is random access and safe for concurrent use", func() {
			s := mustNew(baseConfig())
			want := map[int][]byte{}
			for i := 0; i < 8; i++ {
				want[i*37] = s.Render(i * 37).Image.Y
			}
			var wg sync.WaitGroup
			got := make([][]byte, 8)
			for i := 7; i >= 0; i-- {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = s.Render(i * 37).Image.Y
				}()
			}
			wg.Wait()
			for i := range got {
				Expect(bytes.Equal(got[i], want[i*37])).To(BeTrue(), "frame %d", i*37)
			}
		})

		It("returns the same objects from GroundTruth as from Render, without an image", func() {
			s := mustNew(baseConfig())
			for _, i := range []int{5, 210, 260, 999} {
				gt, fr := s.GroundTruth(i), s.Render(i)
				Expect(gt.Image).To(BeNil())
				Expect(gt.Objects).To(Equal(fr.Objects))
				Expect(gt.ActiveEvents).To(Equal(fr.ActiveEvents))
				Expect(gt.PTS).To(Equal(time.Duration(i) * 100 * time.Millisecond))
			}
		})
	})

	Describe("objects", func() {
		It("has people and vehicles sized like a security camera sees them", func() {
			for _, bg := range []string{scene.BackgroundStreet, scene.BackgroundParking, scene.BackgroundIndoor} {
				cfg := baseConfig()
				cfg.Background = bg
				s := mustNew(cfg)
				var persons, vehicles int
				for i := 0; i < 3000; i += 7 {
					for _, o := range s.GroundTruth(i).Objects {
						b := o.Box
						if b.Min.X <= 0 || b.Max.X >= 640 || b.Min.Y <= 0 || b.Max.Y >= 360 {
							continue // clipped by the frame edge
						}
						if o.Label == scene.LabelPerson {
							persons++
							h := float64(b.Dy()) / 360
							Expect(h).To(BeNumerically(">=", 0.14), "%s %+v", bg, o)
							Expect(h).To(BeNumerically("<=", 0.41), "%s %+v", bg, o)
							Expect(float64(b.Dx()) / float64(b.Dy())).To(BeNumerically("~", 0.4, 0.07))
						} else {
							vehicles++
							Expect(o.Label).To(Equal(scene.LabelVehicle))
							w := float64(b.Dx()) / 640
							Expect(w).To(BeNumerically(">=", 0.14), "%s %+v", bg, o)
							Expect(w).To(BeNumerically("<=", 0.36), "%s %+v", bg, o)
						}
					}
				}
				Expect(persons).To(BeNumerically(">", 100), bg)
				Expect(vehicles).To(BeNumerically(">", 20), bg)
			}
		})

		It("keeps the mean number of visible objects near the configured one", func() {
			cfg := baseConfig()
			cfg.Events = nil
			cfg.People, cfg.Vehicles = 5, 2
			s := mustNew(cfg)
			var p, v, n float64
			for i := 0; i < 36000; i += 10 { // one hour, one frame a second
				n++
				for _, o := range s.GroundTruth(i).Objects {
					if o.Label == scene.LabelPerson {
						p++
					} else {
						v++
					}
				}
			}
			Expect(p / n).To(BeNumerically("~", 5, 1.5))
			Expect(v / n).To(BeNumerically("~", 2, 0.8))
		})

		It("moves objects plausibly: tracks enter, move a little per frame and leave", func() {
			s := mustNew(baseConfig())
			last := map[int]image.Rectangle{}
			seen := map[int]int{}
			for i := 0; i < 1200; i++ {
				cur := map[int]image.Rectangle{}
				for _, o := range s.GroundTruth(i).Objects {
					cur[o.TrackID] = o.Box
					seen[o.TrackID]++
					if prev, ok := last[o.TrackID]; ok {
						c0 := prev.Min.Add(prev.Max)
						c1 := o.Box.Min.Add(o.Box.Max)
						// centre moves less than 6% of the width per frame at 10 fps
						Expect(math.Abs(float64(c1.X-c0.X)) / 2).To(BeNumerically("<", 0.06*640))
					}
				}
				last = cur
			}
			Expect(len(seen)).To(BeNumerically(">", 20))
			for id, n := range seen {
				Expect(n).To(BeNumerically("<", 400), "track %d stays for ever", id)
			}
		})

		It("reports occlusion of farther objects by nearer ones", func() {
			cfg := baseConfig()
			cfg.People, cfg.Vehicles = 12, 3
			s := mustNew(cfg)
			occluded := 0
			for i := 0; i < 2000; i += 5 {
				for _, o := range s.GroundTruth(i).Objects {
					Expect(o.Occlusion).To(BeNumerically(">=", 0))
					Expect(o.Occlusion).To(BeNumerically("<=", 1))
					if o.Occlusion > 0.2 {
						occluded++
					}
				}
			}
			Expect(occluded).To(BeNumerically(">", 10))
		})

		It("changes pixels where the ground truth has objects and nowhere else", func() {
			cfg := baseConfig()
			cfg.Events = nil
			empty := cfg
			empty.People, empty.Vehicles = 0, 0
			s, e := mustNew(cfg), mustNew(empty)
			for _, idx := range []int{100, 400, 777} {
				f, bg := s.Render(idx), e.Render(idx)
				Expect(f.Objects).NotTo(BeEmpty())
				inBox := func(x, y int) bool {
					for _, o := range f.Objects {
						b := o.Box
						m := b.Dx() / 8
						if x >= b.Min.X-m && x < b.Max.X+m && y >= b.Min.Y && y < b.Max.Y+b.Dy()/10+2 {
							return true
						}
					}
					return false
				}
				changed, outside := 0, 0
				for y := 0; y < 360; y++ {
					for x := 0; x < 640; x++ {
						if f.Image.Y[y*f.Image.YStride+x] != bg.Image.Y[y*bg.Image.YStride+x] {
							changed++
							if !inBox(x, y) {
								outside++
							}
						}
					}
				}
				Expect(changed).To(BeNumerically(">", 1000))
				// objects too little visible to be in the ground truth may paint a few pixels at the edges
				Expect(float64(outside)/float64(changed)).To(BeNumerically("<", 0.05), "frame %d", idx)
				for _, o := range f.Objects {
					if o.Occlusion > 0.5 {
						continue
					}
					diff, n := 0.0, 0.0
					for y := o.Box.Min.Y; y < o.Box.Max.Y; y++ {
						for x := o.Box.Min.X; x < o.Box.Max.X; x++ {
							if f.Image.Y[y*f.Image.YStride+x] != bg.Image.Y[y*bg.Image.YStride+x] {
								diff++
							}
							n++
						}
					}
					Expect(diff/n).To(BeNumerically(">", 0.3), "object %+v barely drawn", o)
				}
			}
		})
	})

	Describe("scripted events", func() {
		It("keeps the loiterer in its zone exactly during the event window and reports the event active", func() {
			s := mustNew(baseConfig())
			inZone := func(i int) (bool, bool) {
				f := s.GroundTruth(i)
				for _, o := range f.Objects {
					if o.TrackID == 1 {
						Expect(o.Label).To(Equal(scene.LabelPerson))
						return true, len(o.Zones) == 1 && o.Zones[0] == "entrance"
					}
				}
				return false, false
			}
			for i := 201; i < 349; i++ {
				visible, in := inZone(i)
				Expect(visible && in).To(BeTrue(), "frame %d", i)
				Expect(s.GroundTruth(i).ActiveEvents).To(Equal([]string{"loiter:entrance"}))
			}
			for _, i := range []int{150, 190, 360, 400} {
				_, in := inZone(i)
				Expect(in).To(BeFalse(), "frame %d", i)
				Expect(s.GroundTruth(i).ActiveEvents).To(BeEmpty())
			}
			visible, _ := inZone(190)
			Expect(visible).To(BeTrue(), "the loiterer walks in from the edge")
		})

		It("stops a vehicle in its zone for vehicle_stop", func() {
			cfg := baseConfig()
			cfg.Background = scene.BackgroundParking
			cfg.People, cfg.Vehicles = 0, 0
			cfg.Zones = []scene.Zone{{Name: "bay", Rect: [4]float64{0.1, 0.6, 0.5, 0.9}}}
			cfg.Events = []scene.Event{{Kind: scene.EventVehicleStop, Zone: "bay", Start: 10 * time.Second, End: 20 * time.Second}}
			s := mustNew(cfg)
			a, b := s.GroundTruth(110), s.GroundTruth(190)
			Expect(a.Objects).To(HaveLen(1))
			Expect(a.Objects[0].Label).To(Equal(scene.LabelVehicle))
			Expect(a.Objects[0].Zones).To(Equal([]string{"bay"}))
			Expect(b.Objects[0].Box).To(Equal(a.Objects[0].Box))
			Expect(s.GroundTruth(260).Objects).To(BeEmpty())
		})
	})

	Describe("lighting", func() {
		It("makes night frames dark, low in contrast and noisy", func() {
			day := mustNew(baseConfig())
			cfg := baseConfig()
			cfg.Night = true
			night := mustNew(cfg)
			d, n := day.Render(300).Image, night.Render(300).Image
			Expect(meanLuma(n)).To(BeNumerically("<", 0.5*meanLuma(d)))
			// temporal noise: two consecutive night frames differ in most pixels of a static area
			n2 := night.Render(301).Image
			diff := 0
			for x := 0; x < 640; x++ {
				if n.Y[5*n.YStride+x] != n2.Y[5*n2.YStride+x] {
					diff++
				}
			}
			Expect(diff).To(BeNumerically(">", 400))
		})
	})

	Describe("variants", func() {
		It("renders the built-in layouts byte for byte as before variants existed, without one", func() {
			// hash of these frames taken on the generator before Variant was added:
			// detector training, golden files and scenarios depend on these pixels
			h := sha256.New()
			for _, bg := range []string{scene.BackgroundStreet, scene.BackgroundParking, scene.BackgroundIndoor} {
				for _, night := range []bool{false, true} {
					s := mustNew(scene.Config{Width: 640, Height: 360, FPS: 10, Background: bg, Night: night, Seed: 7, CameraID: "golden", People: 4, Vehicles: 2})
					for _, i := range []int{0, 333, 4321} {
						f := s.Render(i)
						h.Write(f.Image.Y)
						h.Write(f.Image.Cb)
						h.Write(f.Image.Cr)
						fmt.Fprint(h, f.Objects)
					}
				}
			}
			Expect(hex.EncodeToString(h.Sum(nil))).To(Equal("ae764995904f78af1f462ac427c971e289758cb55f34528d4cd5041923ff93a7"))
		})

		It("moves the ground and resizes objects as the camera placement says", func() {
			cfg := baseConfig()
			cfg.Events = nil
			base := mustNew(cfg)
			cfg.Variant = scene.Variant{Horizon: 0.1, CameraHeight: 1.5}
			moved := mustNew(cfg)
			compared := 0
			inside := image.Rect(1, 1, 639, 359)
			for i := 0; i < 3000; i += 37 {
				fb, fm := base.GroundTruth(i), moved.GroundTruth(i)
				for _, ob := range fb.Objects {
					for _, om := range fm.Objects {
						if om.TrackID != ob.TrackID || om.Label != scene.LabelPerson || !ob.Box.In(inside) || !om.Box.In(inside) {
							continue
						}
						compared++
						Expect(float64(om.Box.Max.Y-ob.Box.Max.Y)).To(BeNumerically("~", 36, 2), "feet 10% of 360 px lower")
						Expect(float64(om.Box.Dy())).To(BeNumerically("~", float64(ob.Box.Dy())/1.5, 2), "1.5x higher camera")
					}
				}
			}
			Expect(compared).To(BeNumerically(">", 10))
		})

		It("dims and brightens what is not self-lit", func() {
			cfg := baseConfig()
			base := meanLuma(mustNew(cfg).Render(100).Image)
			cfg.Variant = scene.Variant{Light: 0.5}
			dusk := meanLuma(mustNew(cfg).Render(100).Image)
			cfg.Variant = scene.Variant{Light: 1.3}
			glare := meanLuma(mustNew(cfg).Render(100).Image)
			Expect(dusk).To(BeNumerically("<", 0.6*base))
			Expect(glare).To(BeNumerically(">", 1.15*base))
		})

		It("rejects a placement out of range", func() {
			cfg := baseConfig()
			cfg.Variant = scene.Variant{Horizon: 0.5, Tilt: -1, CameraHeight: 3, Light: 0.1}
			_, err := scene.New(cfg)
			Expect(err).To(MatchError(scene.ErrInvalidConfig))
			for _, want := range []string{"variant.horizon", "variant.tilt", "variant.camera_height", "variant.light"} {
				Expect(err.Error()).To(ContainSubstring(want))
			}
		})
	})

	Describe("configuration", func() {
		It("rejects a bad config with every problem listed", func() {
			cfg := baseConfig()
			cfg.Width, cfg.FPS, cfg.Background = 641, 0, "beach"
			cfg.Zones = append(cfg.Zones, scene.Zone{Name: "entrance", Rect: [4]float64{0.5, 0.5, 0.2, 2}})
			cfg.Events = append(cfg.Events, scene.Event{Kind: "dance", Zone: "nowhere", Start: time.Second, End: time.Second})
			_, err := scene.New(cfg)
			Expect(err).To(MatchError(scene.ErrInvalidConfig))
			var ce *scene.ConfigError
			Expect(err).To(BeAssignableToTypeOf(ce))
			for _, want := range []string{"width 641", "fps 0", `background "beach"`, "duplicate zone", "zones[1].rect",
				`events[1].kind "dance"`, `events[1].zone "nowhere"`, "events[1]: window"} {
				Expect(err.Error()).To(ContainSubstring(want))
			}
		})

		It("defaults the background to street", func() {
			cfg := baseConfig()
			cfg.Background = ""
			Expect(mustNew(cfg).Config().Background).To(Equal(scene.BackgroundStreet))
		})

		It("maps time to frame indices", func() {
			s := mustNew(baseConfig())
			Expect(s.IndexAt(20 * time.Second)).To(Equal(200))
			Expect(s.PTS(15)).To(Equal(1500 * time.Millisecond))
		})
	})
})

func BenchmarkRender640x360(b *testing.B) {
	s, err := scene.New(scene.Config{Width: 640, Height: 360, FPS: 10, Seed: 1, CameraID: "bench", People: 4, Vehicles: 2, Night: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		s.Render(i)
	}
	b.ReportMetric(float64(cpuTime()-c0)/1e6/float64(b.N), "cpu-ms/op")
}

func BenchmarkGroundTruth(b *testing.B) {
	s, err := scene.New(scene.Config{Width: 640, Height: 360, FPS: 10, Seed: 1, CameraID: "bench", People: 4, Vehicles: 2})
	if err != nil {
		b.Fatal(err)
	}
	c0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		s.GroundTruth(i)
	}
	b.ReportMetric(float64(cpuTime()-c0)/1e6/float64(b.N), "cpu-ms/op")
}

func FuzzNew(f *testing.F) {
	f.Add(640, 360, 10.0, "street", int64(1), "cam", 3, 1, 0.1, 0.2, 0.5, 0.9, int64(0), int64(5e9))
	f.Fuzz(func(t *testing.T, w, h int, fps float64, bg string, seed int64, cam string, people, vehicles int,
		x0, y0, x1, y1 float64, start, end int64) {
		if w > 1024 || h > 1024 {
			return
		}
		s, err := scene.New(scene.Config{Width: w, Height: h, FPS: fps, Background: bg, Seed: seed, CameraID: cam,
			People: people, Vehicles: vehicles, Zones: []scene.Zone{{Name: "z", Rect: [4]float64{x0, y0, x1, y1}}},
			Events: []scene.Event{{Kind: "loiter", Zone: "z", Start: time.Duration(start), End: time.Duration(end)}}})
		if err != nil {
			return
		}
		for _, i := range []int{0, 1, 1000} {
			fr := s.GroundTruth(i)
			for _, o := range fr.Objects {
				if o.Box.Empty() || !o.Box.In(image.Rect(0, 0, w, h)) {
					t.Fatalf("box %v outside frame %dx%d", o.Box, w, h)
				}
			}
		}
		_ = s.Render(3)
	})
}

// cpuTime is the process's user+system CPU time: on a shared machine it is
// steadier than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
