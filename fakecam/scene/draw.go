package scene

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
)

type rgb struct{ r, g, b uint8 }

// ycc is a colour in the frame's colour space; lit colours ignore the night.
type ycc struct {
	y, cb, cr uint8
	lit       bool
}

func (c rgb) ycc() ycc {
	y, cb, cr := color.RGBToYCbCr(c.r, c.g, c.b)
	return ycc{y: y, cb: cb, cr: cr}
}

func (c ycc) emissive() ycc { c.lit = true; return c }

// scale returns c with luma multiplied by f (shading).
func (c ycc) scale(f float64) ycc {
	c.y = uint8(clamp(float64(c.y)*f, 0, 255))
	return c
}

// canvas draws filled shapes into a 4:2:0 image.
type canvas struct {
	img   *image.YCbCr
	night bool
	light float64 // luma gain on everything not lit; 0 = none
}

// shade applies the lighting: at night everything not lit is dark, low in
// contrast and nearly colourless.
func (c *canvas) shade(col ycc) ycc {
	if col.lit {
		return col
	}
	if c.light != 0 {
		col.y = uint8(clamp(float64(col.y)*c.light, 0, 255))
	}
	if !c.night {
		return col
	}
	col.y = uint8(18 + float64(col.y)*0.22)
	col.cb = uint8(128 + (float64(col.cb)-128)*0.35)
	col.cr = uint8(128 + (float64(col.cr)-128)*0.35)
	return col
}

// span fills luma row y from x0 to x1 (exclusive, clipped) and the chroma
// samples whose top-left luma pixel lies inside.
func (c *canvas) span(y, x0, x1 int, col ycc) {
	b := c.img.Rect
	if y < b.Min.Y || y >= b.Max.Y {
		return
	}
	x0 = max(x0, b.Min.X)
	x1 = min(x1, b.Max.X)
	if x0 >= x1 {
		return
	}
	row := c.img.Y[y*c.img.YStride:]
	for x := x0; x < x1; x++ {
		row[x] = col.y
	}
	if y&1 != 0 {
		return
	}
	cy := y / 2 * c.img.CStride
	for x := (x0 + 1) &^ 1; x < x1; x += 2 {
		c.img.Cb[cy+x/2] = col.cb
		c.img.Cr[cy+x/2] = col.cr
	}
}

func (c *canvas) rect(x0, y0, x1, y1 float64, col ycc) {
	col = c.shade(col)
	ix0, ix1 := int(math.Round(x0)), int(math.Round(x1))
	for y := int(math.Round(y0)); y < int(math.Round(y1)); y++ {
		c.span(y, ix0, ix1, col)
	}
}

func (c *canvas) ellipse(cx, cy, rx, ry float64, col ycc) {
	if rx <= 0 || ry <= 0 {
		return
	}
	col = c.shade(col)
	for y := int(math.Floor(cy - ry)); y <= int(math.Ceil(cy+ry)); y++ {
		dy := (float64(y) + 0.5 - cy) / ry
		if dy*dy >= 1 {
			continue
		}
		dx := rx * math.Sqrt(1-dy*dy)
		c.span(y, int(math.Round(cx-dx)), int(math.Round(cx+dx)), col)
	}
}

// trapezoid fills rows y0..y1 with a span going linearly from [a0,a1] at the
// top to [b0,b1] at the bottom (also draws slanted limbs).
func (c *canvas) trapezoid(y0, y1, a0, a1, b0, b1 float64, col ycc) {
	col = c.shade(col)
	if y1 <= y0 {
		return
	}
	for y := int(math.Round(y0)); y < int(math.Round(y1)); y++ {
		u := clamp((float64(y)+0.5-y0)/(y1-y0), 0, 1)
		l := a0 + u*(b0-a0)
		r := a1 + u*(b1-a1)
		c.span(y, int(math.Round(l)), int(math.Round(r)), col)
	}
}

// limb draws a thick segment from (x0,y0) to (x1,y1), mostly vertical.
func (c *canvas) limb(x0, y0, x1, y1, w float64, col ycc) {
	c.trapezoid(y0, y1, x0-w/2, x0+w/2, x1-w/2, x1+w/2, col)
}

// darken multiplies luma inside an ellipse (soft shadows on the ground).
func (c *canvas) darken(cx, cy, rx, ry, f float64) {
	b := c.img.Rect
	for y := int(math.Floor(cy - ry)); y <= int(math.Ceil(cy+ry)); y++ {
		if y < b.Min.Y || y >= b.Max.Y {
			continue
		}
		dy := (float64(y) + 0.5 - cy) / ry
		if dy*dy >= 1 {
			continue
		}
		dx := rx * math.Sqrt(1-dy*dy)
		row := c.img.Y[y*c.img.YStride:]
		for x := max(int(cx-dx), b.Min.X); x < min(int(cx+dx), b.Max.X); x++ {
			row[x] = uint8(float64(row[x]) * f)
		}
	}
}

// brighten adds light inside an ellipse, falling off towards its edge.
func (c *canvas) brighten(cx, cy, rx, ry, amount float64) {
	b := c.img.Rect
	for y := int(math.Floor(cy - ry)); y <= int(math.Ceil(cy+ry)); y++ {
		if y < b.Min.Y || y >= b.Max.Y {
			continue
		}
		dy := (float64(y) + 0.5 - cy) / ry
		row := c.img.Y[y*c.img.YStride:]
		for x := max(int(cx-rx), b.Min.X); x < min(int(cx+rx)+1, b.Max.X); x++ {
			dx := (float64(x) + 0.5 - cx) / rx
			d := dx*dx + dy*dy
			if d >= 1 {
				continue
			}
			row[x] = uint8(clamp(float64(row[x])+amount*(1-d), 0, 255))
		}
	}
}

// drawPerson draws a walking person filling box b (feet at the bottom).
func drawPerson(c *canvas, b rect, facing, phase float64, l *look) {
	w, h := b.w(), b.h()
	cx := (b.x0 + b.x1) / 2
	top := b.y0
	c.darken(cx, b.y1, 0.5*w, 0.035*h, 0.7)
	swing := math.Sin(phase)
	hipY, footY := top+0.52*h, top+0.965*h
	legW := 0.2 * w
	// legs: the far leg first, in a darker shade
	c.limb(cx-0.08*w, hipY, cx-swing*0.3*w, footY, legW, l.pants.scale(0.8))
	c.rect(cx-swing*0.3*w-legW*0.5+facing*0.04*w, footY, cx-swing*0.3*w+legW*0.6+facing*0.04*w, b.y1, l.shoes)
	c.limb(cx+0.08*w, hipY, cx+swing*0.3*w, footY, legW, l.pants)
	c.rect(cx+swing*0.3*w-legW*0.5+facing*0.04*w, footY, cx+swing*0.3*w+legW*0.6+facing*0.04*w, b.y1, l.shoes)
	// far arm behind the torso
	shoulderY, handY := top+0.2*h, top+0.5*h
	armW := 0.12 * w
	c.limb(cx-0.3*w, shoulderY, cx-0.3*w+swing*0.18*w, handY, armW, l.body.scale(0.75))
	// torso with rounded shoulders, shaded towards the belt
	tw := 0.32 * w
	c.ellipse(cx, top+0.2*h, tw, 0.045*h, l.body)
	c.trapezoid(top+0.2*h, top+0.38*h, cx-tw, cx+tw, cx-tw*0.95, cx+tw*0.95, l.body)
	c.trapezoid(top+0.38*h, top+0.55*h, cx-tw*0.95, cx+tw*0.95, cx-tw*0.9, cx+tw*0.9, l.body.scale(0.88))
	if l.bag {
		c.rect(cx-facing*tw-0.1*w, top+0.24*h, cx-facing*tw+0.08*w, top+0.45*h, rgb{50, 45, 40}.ycc())
	}
	// near arm with a hand
	c.limb(cx+0.3*w, shoulderY, cx+0.3*w-swing*0.18*w, handY, armW, l.body)
	c.ellipse(cx+0.3*w-swing*0.18*w, handY+0.01*h, armW*0.55, 0.025*h, l.skin)
	// neck and head with hair
	c.rect(cx-0.05*h, top+0.14*h, cx+0.05*h, top+0.19*h, l.skin.scale(0.9))
	hr := 0.068 * h
	c.ellipse(cx, top+0.085*h, hr, 0.085*h, l.hair)
	c.ellipse(cx+facing*0.012*h, top+0.098*h, hr*0.92, 0.072*h, l.skin)
}

// drawVehicle draws a car or van seen from the side filling box b.
func drawVehicle(c *canvas, b rect, facing float64, l *look) {
	w, h := b.w(), b.h()
	x0, y0 := b.x0, b.y0
	X := func(u float64) float64 { // u along the car from rear (0) to front (1)
		if facing < 0 {
			u = 1 - u
		}
		return x0 + u*w
	}
	span := func(u0, u1 float64) (float64, float64) {
		a, b := X(u0), X(u1)
		return min(a, b), max(a, b)
	}
	c.darken(x0+w/2, b.y1-0.02*h, 0.55*w, 0.07*h, 0.6)
	if c.night {
		fx := X(1)
		c.brighten(fx+facing*0.25*w, b.y1-0.05*h, 0.35*w, 0.08*h, 60)
	}
	glass := rgb{55, 70, 90}.ycc()
	body := l.body
	// cabin
	var cabTop, cr0, cr1, ct0, ct1 float64
	switch l.variant {
	case 2: // van
		cabTop, cr0, cr1, ct0, ct1 = 0.0, 0.02, 0.93, 0.02, 0.78
	case 1: // hatchback
		cabTop, cr0, cr1, ct0, ct1 = 0.02, 0.05, 0.78, 0.1, 0.58
	default: // sedan
		cabTop, cr0, cr1, ct0, ct1 = 0.04, 0.2, 0.78, 0.3, 0.62
	}
	bodyTop := 0.42
	if l.variant == 2 {
		bodyTop = 0.5
	}
	a0, a1 := span(ct0, ct1)
	b0, b1 := span(cr0, cr1)
	c.trapezoid(y0+cabTop*h, y0+bodyTop*h+1, a0, a1, b0, b1, body)
	// windows with a pillar
	inset := 0.06 * h
	c.trapezoid(y0+cabTop*h+inset, y0+bodyTop*h, a0+inset, a1-inset, b0+inset, b1-inset, glass)
	p0, p1 := span((ct0+ct1)/2-0.015, (ct0+ct1)/2+0.015)
	c.rect(p0, y0+cabTop*h, p1, y0+bodyTop*h, body)
	// lower body with rounded ends and a darker sill
	c.rect(x0+0.03*w, y0+bodyTop*h, x0+0.97*w, y0+0.84*h, body)
	c.ellipse(x0+0.04*w, y0+(bodyTop+0.84)/2*h, 0.04*w, (0.84-bodyTop)/2*h, body)
	c.ellipse(x0+0.96*w, y0+(bodyTop+0.84)/2*h, 0.04*w, (0.84-bodyTop)/2*h, body)
	c.rect(x0+0.04*w, y0+0.74*h, x0+0.96*w, y0+0.84*h, body.scale(0.7))
	// door line and handle
	d0, d1 := span(0.5, 0.505)
	c.rect(d0, y0+bodyTop*h, d1+1, y0+0.74*h, body.scale(0.6))
	// lights
	f0, f1 := span(0.97, 1.0)
	r0, r1 := span(0.0, 0.03)
	head := rgb{250, 245, 210}.ycc()
	if c.night {
		head = head.emissive()
	}
	c.rect(f0, y0+(bodyTop+0.06)*h, f1, y0+(bodyTop+0.16)*h, head)
	c.rect(r0, y0+(bodyTop+0.06)*h, r1, y0+(bodyTop+0.16)*h, rgb{200, 20, 20}.ycc().emissive())
	// wheels
	r := 0.16 * h
	if r > 0.09*w {
		r = 0.09 * w
	}
	for _, u := range []float64{0.2, 0.8} {
		wx := X(u)
		c.ellipse(wx, b.y1-r, r, r, rgb{20, 20, 22}.ycc())
		c.ellipse(wx, b.y1-r, r*0.5, r*0.5, rgb{150, 150, 155}.ycc())
	}
}

// noiseTables map a random byte to a roughly Gaussian luma offset.
var noiseDay, noiseNight = noiseTable(1.5), noiseTable(7)

func noiseTable(sigma float64) [256]int16 {
	var t [256]int16
	for i := range t {
		// inverse normal CDF by bisection on erf, good enough for a table
		p := (float64(i) + 0.5) / 256
		lo, hi := -6.0, 6.0
		for range 50 {
			m := (lo + hi) / 2
			if 0.5*(1+math.Erf(m/math.Sqrt2)) < p {
				lo = m
			} else {
				hi = m
			}
		}
		t[i] = int16(math.Round(lo * sigma))
	}
	return t
}

// noise is a pool of Gaussian sensor noise drawn once per scene; each frame
// adds to every row a slice of it starting at a random offset, so the noise
// changes from frame to frame at the cost of one random draw per row. The
// pool is kept as 8-byte words of positive and negative parts so that rows
// are updated eight pixels at a time with saturating arithmetic.
type noise struct {
	luma, chroma pool
}

type pool struct {
	pos, neg []uint64 // per byte: max(n, 0) and max(-n, 0)
}

func newPool(r *rng, words int, tab *[256]int16) pool {
	p := pool{pos: make([]uint64, words), neg: make([]uint64, words)}
	for i := range p.pos {
		for k := range 8 {
			v := tab[uint8(r.next())]
			if v > 0 {
				p.pos[i] |= uint64(v) << (8 * k)
			} else {
				p.neg[i] |= uint64(-v) << (8 * k)
			}
		}
	}
	return p
}

func newNoise(r *rng, width int, night bool) *noise {
	tab := &noiseDay
	if night {
		tab = &noiseNight
	}
	n := &noise{luma: newPool(r, width+8, tab)}
	if night {
		n.chroma = newPool(r, width/2+8, &noiseDay)
	}
	return n
}

// add adds this frame's noise (rows offset by r) to img.
func (n *noise) add(img *image.YCbCr, r *rng) {
	n.luma.addRows(img.Y, img.YStride, img.Rect.Dx(), r)
	if n.chroma.pos != nil {
		cw := (img.Rect.Dx() + 1) / 2
		n.chroma.addRows(img.Cb, img.CStride, cw, r)
		n.chroma.addRows(img.Cr, img.CStride, cw, r)
	}
}

const (
	hiBits  = 0x8080808080808080
	lowBits = 0x7f7f7f7f7f7f7f7f
)

// addSat adds the bytes of a and b, saturating at 255.
func addSat(a, b uint64) uint64 {
	sum := ((a & lowBits) + (b & lowBits)) ^ ((a ^ b) & hiBits)
	carry := ((a & b) | ((a | b) &^ sum)) & hiBits
	return sum | (carry>>7)*0xff
}

// subSat subtracts the bytes of b from a, saturating at 0.
func subSat(a, b uint64) uint64 {
	diff := ((a | hiBits) - (b & lowBits)) ^ ((a ^ ^b) & hiBits)
	borrow := ((^a & b) | (^(a ^ b) & diff)) & hiBits
	return diff &^ ((borrow >> 7) * 0xff)
}

func (p pool) addRows(plane []uint8, stride, width int, r *rng) {
	words := (width + 7) / 8
	span := uint64(len(p.pos) - words)
	for y := 0; y+width <= len(plane); y += stride {
		row := plane[y : y+width]
		o := int(r.next() % span)
		pos, neg := p.pos[o:o+words], p.neg[o:o+words]
		i := 0
		for ; i+8 <= width; i += 8 {
			v := binary.LittleEndian.Uint64(row[i:])
			binary.LittleEndian.PutUint64(row[i:], subSat(addSat(v, pos[i/8]), neg[i/8]))
		}
		for ; i < width; i++ { // tail of a row whose width is not a multiple of 8
			k := uint(i%8) * 8
			v := int(row[i]) + int(pos[i/8]>>k&0xff) - int(neg[i/8]>>k&0xff)
			row[i] = uint8(min(max(v, 0), 255))
		}
	}
}
