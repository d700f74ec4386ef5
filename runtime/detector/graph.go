package detector

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// net is one gorgonia expression graph of the architecture for a fixed batsize.
type net struct {
	g      *G.ExprGraph
	x      *G.Node   // (B,3,H,W) input
	params []*G.Node // in Manifest.Tensors order
	heat   *G.Node   // (B,C,gh,gw) class logits
	box    *G.Node   // (B,4,gh,gw) offset x, offset y, log w, log h (cells)
}

// buildNet builds the forward graph with parameter nodes holding copies of ws
// (when copyWeights) or the slices themselves.
func buildNet(man *Manifest, batch int, ws [][]float32, copyWeights bool) (*net, error) {
	g := G.NewGraph()
	n := &net{g: g}
	n.x = G.NewTensor(g, tensor.Float32, 4, G.WithShape(batch, 3, man.InputHeight, man.InputWidth), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(batch, 3, man.InputHeight, man.InputWidth), tensor.Of(tensor.Float32))))
	for i, t := range man.Tensors {
		data := ws[i]
		if copyWeights {
			data = append([]float32(nil), data...)
		}
		v := tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(data))
		n.params = append(n.params, G.NewTensor(g, tensor.Float32, 4, G.WithShape(t.Shape...), G.WithName(t.Name), G.WithValue(v)))
	}
	conv := func(in *G.Node, w, b *G.Node, k, stride, dil int) (*G.Node, error) {
		pad := dil * (k - 1) / 2
		out, err := G.Conv2d(in, w, tensor.Shape{k, k}, []int{pad, pad}, []int{stride, stride}, []int{dil, dil})
		if err != nil {
			return nil, err
		}
		return G.BroadcastAdd(out, b, nil, []byte{0, 2, 3})
	}
	h := n.x
	var err error
	for i, l := range man.Backbone {
		if h, err = conv(h, n.params[2*i], n.params[2*i+1], l.Kernel, l.Stride, l.Dilation); err != nil {
			return nil, fmt.Errorf("detector: build %s: %w", l.Name, err)
		}
		if h, err = G.Rectify(h); err != nil {
			return nil, fmt.Errorf("detector: build %s: %w", l.Name, err)
		}
		if l.Pool == 2 {
			if h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
				return nil, fmt.Errorf("detector: build %s pool: %w", l.Name, err)
			}
		}
	}
	k := 2 * len(man.Backbone)
	if n.heat, err = conv(h, n.params[k], n.params[k+1], 1, 1, 1); err != nil {
		return nil, fmt.Errorf("detector: build heat head: %w", err)
	}
	if n.box, err = conv(h, n.params[k+2], n.params[k+3], 1, 1, 1); err != nil {
		return nil, fmt.Errorf("detector: build box head: %w", err)
	}
	return n, nil
}

// input returns the backing slice of the input tensor.
func (n *net) input() []float32 {
	return n.x.Value().Data().([]float32)
}
