package kube_test

import (
	"errors"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/testbed/kube"
	"github.com/edgesim/edgesim/testbed/provider"
)

var _ = Describe("stopping the cameras at tear-down", func() {
	timeout := errors.New(`kubectl -n edgesim delete pod cams-store-1: exit status 1: error: timed out waiting for the condition on pods/cams-store-1`)

	It("marks camera pods that were not deleted in time as moot: the cluster's deletion removes them", func() {
		err := kube.StopCamerasError([]error{timeout}, nil, false)
		var moot *provider.MootError
		Expect(errors.As(err, &moot)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring("timed out waiting for the condition")))
		Expect(err).To(MatchError(ContainSubstring("last samples may be missing")))
	})

	It("keeps the failure when the cluster is retained", func() {
		err := kube.StopCamerasError([]error{timeout}, nil, true)
		var moot *provider.MootError
		Expect(errors.As(err, &moot)).To(BeFalse())
		Expect(err).To(MatchError(timeout))
	})

	It("never makes a failed copy of the samples moot", func() {
		copyErr := errors.New("cp store-1-cams:/samples: no such container")
		err := kube.StopCamerasError([]error{timeout}, copyErr, false)
		Expect(err).To(MatchError(copyErr))
		Expect(kube.StopCamerasError(nil, nil, false)).To(Succeed())
	})
})
