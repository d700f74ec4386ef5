package scene

import (
	"image"
	"math"
)

// drawBackground draws the static part of the scene once per camera: its
// layout is fixed by the background kind, its details (colours, buildings,
// markings, texture) vary with the seed and camera id.
func (s *Scene) drawBackground() *image.YCbCr {
	W, H := float64(s.cfg.Width), float64(s.cfg.Height)
	img := image.NewYCbCr(image.Rect(0, 0, s.cfg.Width, s.cfg.Height), image.YCbCrSubsampleRatio420)
	c := &canvas{img: img, night: s.cfg.Night, light: s.cfg.Variant.Light}
	r := newRNG(s.key, 0xb6)
	var lamps [][2]float64
	switch s.cfg.Background {
	case BackgroundIndoor:
		wall := []rgb{{215, 205, 185}, {200, 205, 210}, {225, 220, 210}, {190, 200, 185}}[r.intn(4)].ycc()
		c.rect(0, 0, W, 0.42*H, wall)
		// a door, a window and a notice board on the wall
		dx := r.rangef(0.05, 0.75) * W
		c.rect(dx, 0.08*H, dx+0.12*W, 0.42*H, rgb{110, 80, 55}.ycc())
		c.rect(dx+0.1*W, 0.24*H, dx+0.11*W, 0.27*H, rgb{200, 190, 120}.ycc())
		wx := math.Mod(dx+0.25*W, 0.8*W)
		c.rect(wx, 0.08*H, wx+0.16*W, 0.28*H, rgb{160, 180, 200}.ycc())
		c.rect(wx+0.078*W, 0.08*H, wx+0.082*W, 0.28*H, wall.scale(0.8))
		bx := math.Mod(wx+0.3*W, 0.85*W)
		c.rect(bx, 0.12*H, bx+0.1*W, 0.26*H, rgb{150, 110, 70}.ycc())
		c.rect(bx+0.01*W, 0.14*H, bx+0.05*W, 0.19*H, rgb{240, 240, 235}.ycc())
		c.rect(0, 0.40*H, W, 0.42*H, wall.scale(0.6))
		// tiled floor, rows getting taller towards the camera
		fa := []rgb{{170, 165, 160}, {150, 140, 125}, {185, 180, 170}}[r.intn(3)].ycc()
		fb := fa.scale(0.9)
		y := 0.42 * H
		for row := 0; y < H; row++ {
			th := (0.03 + 0.012*float64(row)) * H
			tw := th * 2.2
			for col, x := 0, -math.Mod(float64(row)*tw*0.5, tw); x < W; col, x = col+1, x+tw {
				tc := fa
				if (row+col)%2 == 1 {
					tc = fb
				}
				c.rect(x, y, x+tw, y+th, tc)
			}
			y += th
		}
		lamps = [][2]float64{{0.3, 0.02}, {0.7, 0.02}}
	case BackgroundParking:
		c.rect(0, 0, W, 0.18*H, rgb{150, 180, 215}.ycc())
		c.rect(0, 0.04*H, W, 0.18*H, rgb{165, 150, 130}.ycc()) // building behind
		for x := r.rangef(0, 0.05) * W; x < W; x += 0.07 * W {
			c.rect(x, 0.07*H, x+0.035*W, 0.13*H, rgb{70, 80, 95}.ycc())
		}
		c.rect(0, 0.18*H, W, 0.35*H, rgb{55, 100, 50}.ycc()) // hedge
		for x := 0.0; x < W; x += 0.04 * W {
			c.ellipse(x+r.rangef(0, 0.02)*W, 0.2*H, 0.03*W, 0.04*H, rgb{50, 95, 45}.ycc())
		}
		c.rect(0, 0.35*H, W, H, rgb{85, 85, 88}.ycc()) // asphalt
		line := rgb{225, 225, 215}.ycc()
		c.rect(0, 0.36*H, W, 0.37*H, line)
		for _, row := range [][2]float64{{0.40, 0.52}, {0.78, 0.98}} {
			sp := (0.13 + 0.08*(row[0]-0.4)) * W
			for x := r.rangef(0, 0.1) * W; x < W; x += sp {
				c.trapezoid(row[0]*H, row[1]*H, x, x+0.005*W, x-0.04*W, x-0.04*W+0.009*W, line)
			}
		}
		lamps = [][2]float64{{r.rangef(0.15, 0.35), 0.3}, {r.rangef(0.65, 0.85), 0.3}}
		for _, l := range lamps {
			c.rect(l[0]*W-0.004*W, 0.05*H, l[0]*W+0.004*W, 0.38*H, rgb{60, 60, 65}.ycc())
		}
	default: // street
		c.rect(0, 0, W, 0.42*H, rgb{150, 180, 215}.ycc())
		facades := []rgb{{165, 90, 70}, {200, 185, 150}, {150, 150, 155}, {190, 160, 120}, {120, 110, 100}, {215, 205, 190}}
		for x := 0.0; x < W; {
			bw := r.rangef(0.1, 0.25) * W
			top := r.rangef(0, 0.15) * H
			fc := facades[r.intn(len(facades))].ycc()
			c.rect(x, top, x+bw, 0.42*H, fc)
			for wy := top + 0.03*H; wy < 0.36*H; wy += 0.07 * H {
				for wx := x + 0.02*W; wx+0.03*W < x+bw; wx += 0.05 * W {
					win := rgb{60, 70, 85}.ycc()
					if s.cfg.Night && r.float() < 0.3 {
						win = rgb{230, 200, 120}.ycc().emissive()
					}
					c.rect(wx, wy, wx+0.028*W, wy+0.04*H, win)
				}
			}
			x += bw
		}
		c.rect(0, 0.42*H, W, 0.50*H, rgb{175, 172, 165}.ycc()) // far sidewalk
		c.rect(0, 0.495*H, W, 0.505*H, rgb{120, 118, 115}.ycc())
		c.rect(0, 0.50*H, W, 0.80*H, rgb{70, 72, 75}.ycc()) // road
		for x := r.rangef(0, 0.1) * W; x < W; x += 0.16 * W {
			c.rect(x, 0.705*H, x+0.08*W, 0.715*H, rgb{230, 230, 220}.ycc())
		}
		c.rect(0, 0.795*H, W, 0.81*H, rgb{130, 128, 125}.ycc())
		c.rect(0, 0.81*H, W, H, rgb{165, 162, 155}.ycc()) // near sidewalk
		for x := r.rangef(0, 0.1) * W; x < W; x += 0.12 * W {
			c.trapezoid(0.81*H, H, x, x+2, x-0.03*W, x-0.03*W+3, rgb{140, 138, 132}.ycc())
		}
		lamps = [][2]float64{{r.rangef(0.1, 0.4), 0.18}, {r.rangef(0.6, 0.9), 0.18}}
		for _, l := range lamps {
			c.rect(l[0]*W-0.004*W, 0.18*H, l[0]*W+0.004*W, 0.48*H, rgb{50, 52, 55}.ycc())
		}
	}
	if s.cfg.Night {
		for _, l := range lamps {
			c.ellipse(l[0]*W, l[1]*H, 0.012*W, 0.012*W, rgb{255, 240, 200}.ycc().emissive())
			c.brighten(l[0]*W, l[1]*H, 0.05*W, 0.05*W, 50)
			c.brighten(l[0]*W, 0.75*H, 0.2*W, 0.2*H, 35)
		}
	}
	if v := s.cfg.Variant; v.Horizon != 0 || v.Tilt != 0 {
		img = warpRows(img, v)
	}
	// fixed texture (grain of walls and asphalt) and lens vignetting
	tex := newRNG(s.key, 0x7e)
	for y := 0; y < s.cfg.Height; y++ {
		dy := (float64(y)/H - 0.5) * 2
		row := img.Y[y*img.YStride : y*img.YStride+s.cfg.Width]
		for x := range row {
			dx := (float64(x)/W - 0.5) * 2
			v := float64(row[x])*(1-0.12*(dx*dx+dy*dy)/2) + float64(int(tex.next()%7)-3)
			row[x] = uint8(clamp(v, 0, 255))
		}
	}
	return img
}

// warpRows moves the rows of img where the variant puts them (nearest row;
// beyond the drawn background the first or last row repeats).
func warpRows(src *image.YCbCr, v Variant) *image.YCbCr {
	dst := image.NewYCbCr(src.Rect, src.SubsampleRatio)
	H := src.Rect.Dy()
	from := func(y, h int) int { // source row of destination row y in a plane of h rows
		f := ((float64(y)+0.5)/float64(h)-0.5-v.Horizon)/(1+v.Tilt) + 0.5
		return int(clamp(math.Floor(f*float64(h)), 0, float64(h-1)))
	}
	for y := range H {
		sy := from(y, H)
		copy(dst.Y[y*dst.YStride:(y+1)*dst.YStride], src.Y[sy*src.YStride:(sy+1)*src.YStride])
	}
	ch := (H + 1) / 2
	for y := range ch {
		sy := from(y, ch)
		copy(dst.Cb[y*dst.CStride:(y+1)*dst.CStride], src.Cb[sy*src.CStride:(sy+1)*src.CStride])
		copy(dst.Cr[y*dst.CStride:(y+1)*dst.CStride], src.Cr[sy*src.CStride:(sy+1)*src.CStride])
	}
	return dst
}
