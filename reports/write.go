package reports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
var AllFormats = []Format{FormatJSON, FormatHTML, FormatMarkdown, FormatJUnit, FormatSamples}

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
		return slices.Clone(AllFormats), nil
	}
	var out []Format
	for _, part := range strings.Split(s, ",") {
		f := Format(strings.ToLower(strings.TrimSpace(part)))
		if f == "markdown" {
			f = FormatMarkdown
		}
		if !slices.Contains(AllFormats, f) {
			return nil, fmt.Errorf("%w %q: use a comma-separated list of json, html, md, junit, samples (or all)", ErrUnknownFormat, part)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Render writes one format of the result to w.
func Render(ctx context.Context, w io.Writer, r *Result, f Format) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch f {
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatHTML:
		return WriteHTML(w, r)
	case FormatMarkdown:
		return WriteMarkdown(w, r)
	case FormatJUnit:
		return WriteJUnit(w, r)
	case FormatSamples:
		if r.run == nil {
			return fmt.Errorf("%w: it was not produced by Analyze in this process; write the samples from the Run instead", ErrNoSamples)
		}
		return WriteSamples(w, r.run)
	}
	return fmt.Errorf("%w %q: use one of json, html, md, junit, samples", ErrUnknownFormat, f)
}

// WriteAll renders the given formats (all when empty) into dir, creating
// it if needed. Each file is written to a temporary name and renamed, so a
// reader never sees half a report; on error nothing half-written is left.
func WriteAll(ctx context.Context, dir string, r *Result, formats []Format) error {
	if r == nil {
		return errors.New("reports: nil result: call Analyze first")
	}
	if len(formats) == 0 {
		formats = AllFormats
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
		if err := writeFileAtomic(filepath.Join(dir, f.FileName()), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(name, 0o644); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes report.json.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadResult decodes a report.json, checking its schema version.
func ReadResult(rd io.Reader) (*Result, error) {
	var r Result
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("report schemaVersion %q is not %q: regenerate it with this edgesim version", r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// WriteSamples writes the raw samples of a run as JSON.
func WriteSamples(w io.Writer, run *Run) error {
	cp := *run
	cp.SchemaVersion = SamplesSchemaVersion
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := json.NewEncoder(bw).Encode(&cp); err != nil { // compact: samples get big
		return err
	}
	return bw.Flush()
}

// ReadSamples decodes a samples.json written by WriteSamples, so a report
// can be recomputed from the raw samples.
func ReadSamples(rd io.Reader) (*Run, error) {
	var run Run
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&run); err != nil {
		return nil, fmt.Errorf("decode samples: %w", err)
	}
	if run.SchemaVersion != SamplesSchemaVersion {
		return nil, fmt.Errorf("samples schemaVersion %q is not %q: re-collect them with this edgesim version", run.SchemaVersion, SamplesSchemaVersion)
	}
	return &run, nil
}
