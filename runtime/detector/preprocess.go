package detector

import (
	"image"
	"image/color"
)

// preprocess resizes img to the network input (w x h) and writes it as
// planar RGB scaled to [-0.5, 0.5] into dst (len 3*w*h). Each output pixel
// averages four source samples of its footprint, which is cheap and removes
// most aliasing and sensor noise at 4-5x downscale.
func preprocess(img image.Image, w, h int, dst []float32) error {
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return &ModelError{Err: ErrBadInput, Path: "image", Detail: "image is empty"}
	}
	plane := w * h
	sx := float64(b.Dx()) / float64(w)
	sy := float64(b.Dy()) / float64(h)
	xs := make([]int, 2*w)
	for x := 0; x < w; x++ {
		xs[2*x] = b.Min.X + min(b.Dx()-1, int((float64(x)+0.25)*sx))
		xs[2*x+1] = b.Min.X + min(b.Dx()-1, int((float64(x)+0.75)*sx))
	}
	ys := make([]int, 2*h)
	for y := 0; y < h; y++ {
		ys[2*y] = b.Min.Y + min(b.Dy()-1, int((float64(y)+0.25)*sy))
		ys[2*y+1] = b.Min.Y + min(b.Dy()-1, int((float64(y)+0.75)*sy))
	}
	const k = 1.0 / (4 * 255)
	switch src := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var r, g, bl int
				for _, py := range ys[2*y : 2*y+2] {
					for _, px := range xs[2*x : 2*x+2] {
						yi := src.YOffset(px, py)
						ci := src.COffset(px, py)
						cr, cg, cb := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
						r += int(cr)
						g += int(cg)
						bl += int(cb)
					}
				}
				i := y*w + x
				dst[i] = float32(r)*k - 0.5
				dst[plane+i] = float32(g)*k - 0.5
				dst[2*plane+i] = float32(bl)*k - 0.5
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var r, g, bl int
				for _, py := range ys[2*y : 2*y+2] {
					for _, px := range xs[2*x : 2*x+2] {
						o := src.PixOffset(px, py)
						r += int(src.Pix[o])
						g += int(src.Pix[o+1])
						bl += int(src.Pix[o+2])
					}
				}
				i := y*w + x
				dst[i] = float32(r)*k - 0.5
				dst[plane+i] = float32(g)*k - 0.5
				dst[2*plane+i] = float32(bl)*k - 0.5
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var r, g, bl uint32
				for _, py := range ys[2*y : 2*y+2] {
					for _, px := range xs[2*x : 2*x+2] {
						cr, cg, cb, _ := img.At(px, py).RGBA()
						r += cr >> 8
						g += cg >> 8
						bl += cb >> 8
					}
				}
				i := y*w + x
				dst[i] = float32(r)*k - 0.5
				dst[plane+i] = float32(g)*k - 0.5
				dst[2*plane+i] = float32(bl)*k - 0.5
			}
		}
	}
	return nil
}
