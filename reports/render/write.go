package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/reports"
)

// Format is one output of [WriteAll].
type Format string

// The formats and the files they produce.
const (
	FormatJSON     Format = "json"    // report.json
	FormatHTML     Format = "html"    // report.html
	FormatMarkdown Format = "md"      // report.md
	FormatJUnit    Format = "junit"   // junit.xml
	FormatSamples  Format = "samples" // samples.json (the Run)
)

// AllFormats lists every format in the order WriteAll writes them.
func AllFormats() []Format {
	return []Format{FormatJSON, FormatHTML, FormatMarkdown, FormatJUnit, FormatSamples}
}

// ErrUnknownFormat is wrapped when a format name is not one of AllFormats.
var ErrUnknownFormat = errors.New("unknown report format")

// ErrNoSamples is returned when the samples format is asked for a result
// that does not carry its input.
var ErrNoSamples = errors.New("result has no samples")

// FileName is the file a format is written to.
func (f Format) FileName() string {
	switch f {
	case FormatJSON:
		return "report.json"
	case FormatHTML:
		return "report.html"
	case FormatMarkdown:
		return "report.md"
	case FormatJUnit:
		return "junit.xml"
	case FormatSamples:
		return "samples.json"
	}
	return ""
}

// ParseFormats parses a comma-separated list such as "json,html,md";
// "all" or "" means AllFormats.
func ParseFormats(s string) ([]Format, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return AllFormats(), nil
	}
	var out []Format
	for _, part := range strings.Split(s, ",") {
		f := Format(strings.ToLower(strings.TrimSpace(part)))
		if f == "markdown" {
			f = FormatMarkdown
		}
		if !slices.Contains(AllFormats(), f) {
			return nil, fmt.Errorf("%w %q: use a comma-separated list of json, html, md, junit, samples (or all)", ErrUnknownFormat, part)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Render writes one format of the result to w.
func Render(ctx context.Context, w io.Writer, r *reports.Result, f Format) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch f {
	case FormatJSON:
		return reports.WriteJSON(w, r)
	case FormatHTML:
		return WriteHTML(w, r)
	case FormatMarkdown:
		return WriteMarkdown(w, r)
	case FormatJUnit:
		return WriteJUnit(w, r)
	case FormatSamples:
		if r.Run() == nil {
			return fmt.Errorf("%w: it was not produced by Analyze in this process; write the samples from the Run instead", ErrNoSamples)
		}
		return reports.WriteSamples(w, r.Run())
	}
	return fmt.Errorf("%w %q: use one of json, html, md, junit, samples", ErrUnknownFormat, f)
}

// WriteEvery writes every format (WriteAll with all formats) into dir; its
// signature fits testbed.Options.Report.
func WriteEvery(ctx context.Context, dir string, r *reports.Result) error {
	return WriteAll(ctx, dir, r, nil)
}

// WriteAll renders the given formats (all when empty) into dir, creating
// it if needed. Each file is written to a temporary name and renamed, so a
// reader never sees half a report; on error nothing half-written is left.
func WriteAll(ctx context.Context, dir string, r *reports.Result, formats []Format) error {
	if r == nil {
		return errors.New("reports: nil result: call Analyze first")
	}
	if len(formats) == 0 {
		formats = AllFormats()
	}
	for _, f := range formats {
		if f.FileName() == "" {
			return fmt.Errorf("%w %q: use one of json, html, md, junit, samples", ErrUnknownFormat, f)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create report directory: %w", err)
	}
	for _, f := range formats {
		var buf bytes.Buffer
		if err := Render(ctx, &buf, r, f); err != nil {
			return fmt.Errorf("render %s: %w", f.FileName(), err)
		}
		if err := reportkit.WriteFileAtomic(filepath.Join(dir, f.FileName()), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
