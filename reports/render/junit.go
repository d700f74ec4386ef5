package render

import (
	"encoding/xml"
	"fmt"
	"io"

	"github.com/edgesim/edgesim/reports"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes junit.xml: one test case per SLO, failed ones with a
// message giving measured against threshold. A gate nothing exercised
// fails (skipped when the scenario allows it); the comparison mirror's
// what-ifs are skipped cases of their own class, never failures. A partial run adds a failing
// "run completed" case so CI never takes it for a pass.
func WriteJUnit(w io.Writer, r *reports.Result) error {
	secs := fmt.Sprintf("%.3f", r.DurationMs/1000)
	s := junitSuite{
		Name:      "edgesim SLOs: " + r.Scenario,
		Time:      secs,
		Timestamp: r.Start.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{Name: "scenario", Value: r.Scenario},
			{Name: "seed", Value: fmt.Sprint(r.Seed)},
			{Name: "provider", Value: r.Provider},
			{Name: "verdict", Value: r.Verdict},
		},
	}
	if banner := r.LinksBanner(); banner != "" {
		s.Properties = append(s.Properties, junitProperty{Name: "linksEmulated", Value: "false"})
		s.SystemOut = banner + "\n"
	}
	if r.Headroom != nil {
		s.Properties = append(s.Properties, junitProperty{Name: "hostSaturated", Value: fmt.Sprint(r.Headroom.Saturated)})
		if banner := r.Headroom.Banner(); banner != "" {
			s.SystemOut += banner + "\n"
		}
	}
	class := "edgesim.slo." + r.Scenario
	for _, v := range r.SLOs {
		c := junitCase{Name: v.Name, ClassName: class, Time: "0", SystemOut: v.Reason}
		if v.Name == reports.FailoverSLOName {
			for _, s := range r.FailoverSummaries {
				c.SystemOut += "\n" + s.Breakdown(r.Start)
			}
		}
		switch {
		case v.WhatIf:
			// A what-if is reported, never gated: CI must not count it.
			res := "pass"
			if !v.Pass {
				res = "fail"
			}
			c.ClassName = class + ".whatif"
			c.Skipped = &junitSkipped{Message: fmt.Sprintf("what-if of the comparison mirror, not gated: would %s (measured %s, threshold %s)", res, v.Measured, v.Threshold)}
			s.Skipped++
		case v.NotExercised && !v.Gated:
			c.Skipped = &junitSkipped{Message: "not exercised, allowed by the scenario: " + v.Reason}
			s.Skipped++
		case v.NotExercised:
			c.Failure = &junitFailure{Type: "SLONotExercised", Message: "not exercised: nothing in the run tested this SLO", Text: v.Reason}
			s.Failures++
		case !v.Pass:
			c.Failure = &junitFailure{
				Type:    "SLOViolation",
				Message: fmt.Sprintf("measured %s, threshold %s", v.Measured, v.Threshold),
				Text:    v.Reason,
			}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	if r.Partial {
		reason := r.PartialReason
		if reason == "" {
			reason = "interrupted"
		}
		s.Cases = append(s.Cases, junitCase{Name: "run completed", ClassName: class, Time: secs,
			Failure: &junitFailure{Type: "PartialRun", Message: "the run was interrupted: " + reason,
				Text: "SLOs were judged on a partial run only"}})
		s.Failures++
	}
	for _, w := range r.Warnings {
		s.SystemOut += "warning: " + w + "\n"
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "edgesim", Tests: s.Tests, Failures: s.Failures, Time: secs, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
