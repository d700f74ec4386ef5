package hwlimit

import cgroups "github.com/containerd/cgroups/v3"

// FakeUnified makes the package see a cgroup v2 hierarchy at root (a
// directory the spec prepares) until restore is called.
func FakeUnified(root string) (restore func()) {
	oldRoot, oldMode := unifiedRoot, mode
	unifiedRoot, mode = root, func() cgroups.CGMode { return cgroups.Unified }
	return func() { unifiedRoot, mode = oldRoot, oldMode }
}
