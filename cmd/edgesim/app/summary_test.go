package app_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgesim/edgesim/cmd/edgesim/app"
	"github.com/edgesim/edgesim/reports"
)

var _ = Describe("the run summary's verdict words", func() {
	DescribeTable("say whether a verdict gates the exit code",
		func(v reports.SLOVerdict, want string) { Expect(app.SLOMark(v)).To(Equal(want)) },
		Entry("a gated pass", reports.SLOVerdict{Pass: true, Gated: true}, "PASS"),
		Entry("a gated failure", reports.SLOVerdict{Gated: true}, "FAIL"),
		Entry("a gate nothing exercised", reports.SLOVerdict{NotExercised: true, Gated: true}, "NOT EXERCISED"),
		Entry("an allowed unexercised gate", reports.SLOVerdict{NotExercised: true}, "not exercised"),
		Entry("a what-if of the mirror that fails", reports.SLOVerdict{WhatIf: true}, "fail"),
		Entry("a what-if of the mirror that passes", reports.SLOVerdict{WhatIf: true, Pass: true}, "pass"),
		Entry("a what-if nothing exercised", reports.SLOVerdict{WhatIf: true, NotExercised: true}, "not exercised"),
	)
})
