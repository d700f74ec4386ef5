// Package vp8test encodes synthetic VP8 streams with libvpx for the
// runtime's tests and benchmarks.
package vp8test

import (
	"image"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// Encode encodes n w x h frames, each drawn by draw (frame i, a fresh
// 4:2:0 image), at bitRate bit/s and fps, with a key frame every keyEvery
// frames, and returns the encoded frames in order.
func Encode(n, keyEvery, w, h, bitRate int, fps float32, draw func(img *image.YCbCr, i int)) ([][]byte, error) {
	params, err := vpx.NewVP8Params()
	if err != nil {
		return nil, err
	}
	params.BitRate = bitRate
	params.KeyFrameInterval = keyEvery
	i := 0
	enc, err := params.BuildVideoEncoder(video.ReaderFunc(func() (image.Image, func(), error) {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		draw(img, i)
		i++
		return img, func() {}, nil
	}), prop.Media{Video: prop.Video{Width: w, Height: h, FrameFormat: frame.FormatI420, FrameRate: fps}})
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	out := make([][]byte, 0, n)
	for range n {
		b, release, err := enc.Read()
		if err != nil {
			return nil, err
		}
		out = append(out, append([]byte(nil), b...))
		release()
	}
	return out, nil
}
