package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

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
