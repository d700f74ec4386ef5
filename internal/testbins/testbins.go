// Package testbins builds the edgesim and edgenode binaries once per test
// process, for specs that run scenarios on the local provider. Call
// gexec.CleanupBuildArtifacts in the suite's AfterSuite.
package testbins

import (
	"sync"

	"github.com/onsi/gomega/gexec"

	"github.com/edgesim/edgesim/testbed"
)

var (
	once  sync.Once
	built testbed.Binaries
	err   error
)

// Build builds both binaries on its first call and returns them.
func Build() (testbed.Binaries, error) {
	once.Do(func() {
		built.Edgesim, err = gexec.Build("github.com/edgesim/edgesim/cmd/edgesim")
		if err == nil {
			built.Edgenode, err = gexec.Build("github.com/edgesim/edgesim/cmd/edgenode")
		}
	})
	return built, err
}
