package kctest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
)

// Orphan makes a state record look like that of a run whose process is
// gone (the pid of a process that has exited), as after edgesim exits, so
// that `edgesim clean` takes it.
func Orphan(record string) error {
	b, err := os.ReadFile(record)
	if err != nil {
		return err
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("record %s: %w", record, err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		return err
	}
	r["pid"] = gone.Process.Pid
	if b, err = json.Marshal(r); err != nil {
		return err
	}
	return os.WriteFile(record, b, 0o644)
}
