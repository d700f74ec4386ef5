package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edgesim/edgesim/internal/reportkit"
	"github.com/edgesim/edgesim/plan"
)

// JSON writes report.json: the report, indented, with its apiVersion and
// kind set when the report left them empty.
func JSON(w io.Writer, r *plan.CapacityReport) error {
	c := *r
	if c.APIVersion == "" {
		c.APIVersion = plan.CapacityAPIVersion
	}
	if c.Kind == "" {
		c.Kind = plan.CapacityKind
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(&c)
}

// WriteAll writes report.json, report.md and report.html into dir,
// creating it if needed, and returns their paths. Each file is written to
// a temporary name and renamed, so a reader never sees half a report; on
// error nothing half-written is left. A directory that holds another
// report (a run's report.json, say) is refused, not overwritten.
func WriteAll(dir string, r *plan.CapacityReport) ([]string, error) {
	if r == nil {
		return nil, errors.New("plan/render: nil capacity report")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create report directory: %w", err)
	}
	if err := refuseForeign(dir); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range []struct {
		name   string
		render func(io.Writer, *plan.CapacityReport) error
	}{{"report.json", JSON}, {"report.md", Markdown}, {"report.html", HTML}} {
		var buf bytes.Buffer
		if err := f.render(&buf, r); err != nil {
			return paths, fmt.Errorf("render %s: %w", f.name, err)
		}
		path := filepath.Join(dir, f.name)
		if err := reportkit.WriteFileAtomic(path, buf.Bytes()); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// refuseForeign fails when dir holds report files that are not a capacity
// report's.
func refuseForeign(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if errors.Is(err, fs.ErrNotExist) {
		for _, name := range []string{"report.md", "report.html"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return fmt.Errorf("plan/render: %s holds %s but no capacity report.json: write the capacity report to another directory", dir, name)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("plan/render: %w", err)
	}
	var id struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(b, &id) != nil || id.Kind != plan.CapacityKind {
		return fmt.Errorf("plan/render: %s holds a report.json that is not a capacity report: write the capacity report to another directory", dir)
	}
	return nil
}
