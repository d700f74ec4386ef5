package k3sprovider

import (
	"context"
	"os"

	"github.com/edgesim/edgesim/testbed/k3s/cluster"
	"github.com/edgesim/edgesim/testbed/nodecontainer"
)

// Host is what New asks of the machine.
type Host struct {
	Euid         func() int
	LookPath     func(string) (string, error)
	Stat         func(string) (os.FileInfo, error)
	DefaultImage func(ctx context.Context) (string, error)
	Preflight    func(ctx context.Context, image string) error
	Runtime      nodecontainer.Runner
}

// NewOn is New on a fake machine.
func NewOn(cfg Config, h Host) (*Provider, error) {
	return newProvider(cfg, host{euid: h.Euid, lookPath: h.LookPath, stat: h.Stat, defaultImage: h.DefaultImage, preflight: h.Preflight, runtime: h.Runtime})
}

// DeleteOwned is the seam Clean and Destroy delete clusters through.
var DeleteOwned = &deleteOwned

// WriteRecord writes a cluster record as Provision does.
func WriteRecord(stateDir, name string, proof cluster.Proof) (string, error) {
	return writeRecord(stateDir, name, proof)
}
