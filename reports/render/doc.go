// Package render writes an analysed run ([reports.Result]) as files a
// person or a CI system reads: report.json, a self-contained report.html
// with plots (gonum/plot), report.md for a pull-request comment, junit.xml
// with one test case per SLO, and samples.json, the raw samples the
// figures come from.
//
// It is apart from the analysis so that code that only runs scenarios and
// checks verdicts (a testbed, a Ginkgo suite) does not link the plotting
// code. The usual call, after testbed.Run:
//
//	res, err := testbed.Run(ctx, sc, opts)
//	if res != nil && res.Report != nil {
//		err = errors.Join(err, render.WriteAll(ctx, res.Dir, res.Report, nil))
//	}
package render
