package kctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgesim/edgesim/testbed/kubeconfigprovider"
)

// skippedResources are not dumped at all: they change by themselves in a
// cluster nobody touches, or record what happened rather than what is.
var skippedResources = []string{
	"events",                     // core events: a history, not state
	"events.events.k8s.io",       // the same events
	"leases.coordination.k8s.io", // heartbeats of kubelets and leader elections (measured: see Normalize)
}

// DumpObjects returns every object of every listable API resource of the
// cluster (`kubectl api-resources --verbs=list`), keyed
// Kind[.group]/namespace/name (namespace empty for cluster-scoped
// objects), each as indented JSON normalised by Normalize, so that two
// dumps of a cluster nobody touched are equal.
func DumpObjects(ctx context.Context, kubectlPath, kubeconfig string) (map[string]string, error) {
	return dump(ctx, kubectlPath, kubeconfig, true)
}

func dump(ctx context.Context, kubectlPath, kubeconfig string, normalize bool) (map[string]string, error) {
	k := &kubeconfigprovider.Kubectl{Path: kubectlPath, Target: kubeconfigprovider.Target{Kubeconfig: kubeconfig}}
	out, err := k.Kubectl(ctx, nil, "api-resources", "--verbs=list", "-o", "name")
	if err != nil {
		return nil, err
	}
	var res []string
	for _, r := range strings.Fields(string(out)) {
		if !normalize || !slices.Contains(skippedResources, r) {
			res = append(res, r)
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("kubectl api-resources listed no resources")
	}
	// One kubectl for all resources: one process per resource costs
	// seconds on a busy machine. When that fails, one per resource says
	// which (an aggregated API whose server is down, say).
	items, err := getItems(ctx, k, strings.Join(res, ","))
	if err != nil {
		items = nil
		var failed []error
		for _, r := range res {
			its, err := getItems(ctx, k, r)
			if err != nil {
				failed = append(failed, err)
			}
			items = append(items, its...)
		}
		if len(failed) > 0 {
			return nil, errors.Join(failed...)
		}
	}
	objs := make(map[string]string, len(items))
	for _, o := range items {
		key := ObjectKey(o)
		if normalize {
			Normalize(o)
		}
		b, err := json.MarshalIndent(o, "", "  ")
		if err != nil {
			return nil, err
		}
		if prev, dup := objs[key]; dup && prev != string(b) {
			return nil, fmt.Errorf("two different objects under %s", key)
		}
		objs[key] = string(b)
	}
	return objs, nil
}

func getItems(ctx context.Context, k *kubeconfigprovider.Kubectl, resources string) ([]map[string]any, error) {
	out, err := k.Kubectl(ctx, nil, "get", resources, "-A", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("decode the objects of %s: %w", resources, err)
	}
	return list.Items, nil
}

// ObjectKey is Kind[.group]/namespace/name of a decoded object.
func ObjectKey(o map[string]any) string {
	kind, _ := o["kind"].(string)
	if av, _ := o["apiVersion"].(string); strings.Contains(av, "/") {
		kind += "." + av[:strings.Index(av, "/")]
	}
	md, _ := o["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	name, _ := md["name"].(string)
	return kind + "/" + ns + "/" + name
}

// Normalize drops from a decoded object what changes without anyone
// touching the cluster's workloads:
//   - metadata.resourceVersion and metadata.managedFields: bumped by every
//     write, also a status update that changes nothing else;
//   - status, of every object: what kubelets and controllers observe, not
//     what anyone asked for. A run changes it on objects it never touched
//     (a kubelet re-posts its Node's status at least every 5 minutes, its
//     nodeStatusReportFrequency, with the images it pulled in
//     status.images), though not within the spec's run, which is shorter.
//
// Measured with IdleDrift (30 s on a fresh 3-node cluster right after all
// nodes were Ready, EDGESIM_KCTEST_DRIFT=30s): only Leases differed
// (spec.renewTime and resourceVersion of the node leases and of the
// apiserver, controller-manager and scheduler leader leases, and the
// workers' node leases appearing): skippedResources. No event was made in
// that time; events are skipped anyway, being history. Nothing else is
// dropped: metadata.generation stays (it changes only with the spec), and
// so do the Endpoints and EndpointSlices of kube-system, which did not
// change. A cluster still settling changes more by itself (a worker's
// not-ready taint going away seconds after the node turned Ready):
// CreateCluster returns only once that is over. Across the spec's run
// (two pods started and deleted) the raw dumps differed only in Events
// and Leases.
func Normalize(o map[string]any) {
	delete(o, "status")
	if md, _ := o["metadata"].(map[string]any); md != nil {
		delete(md, "resourceVersion")
		delete(md, "managedFields")
	}
}

// Diff lists the keys added to, removed from and changed between two dumps,
// sorted, each changed one with the JSON paths that differ (at most five).
func Diff(before, after map[string]string) []string {
	keys := slices.Sorted(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		b, inB := before[k]
		a, inA := after[k]
		switch {
		case !inA:
			out = append(out, "removed "+k)
		case !inB:
			out = append(out, "added "+k)
		case a != b:
			out = append(out, "changed "+k+": "+changedPaths(b, a))
		}
	}
	return out
}

// changedPaths names the JSON paths at which two documents differ.
func changedPaths(before, after string) string {
	var b, a any
	if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil {
		return "(not JSON)"
	}
	var paths []string
	diffPaths("", b, a, &paths)
	if len(paths) > 5 {
		paths = append(paths[:5], fmt.Sprintf("and %d more", len(paths)-5))
	}
	return strings.Join(paths, ", ")
}

func diffPaths(at string, b, a any, out *[]string) {
	bm, bok := b.(map[string]any)
	am, aok := a.(map[string]any)
	if bok && aok {
		keys := slices.Sorted(maps.Keys(bm))
		for k := range am {
			if _, ok := bm[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !reflect.DeepEqual(bm[k], am[k]) {
				diffPaths(at+"."+k, bm[k], am[k], out)
			}
		}
		return
	}
	bl, bok := b.([]any)
	al, aok := a.([]any)
	if bok && aok && len(bl) == len(al) {
		for i := range bl {
			if !reflect.DeepEqual(bl[i], al[i]) {
				diffPaths(fmt.Sprintf("%s[%d]", at, i), bl[i], al[i], out)
			}
		}
		return
	}
	if at == "" {
		at = "."
	}
	*out = append(*out, at)
}

// IdleDrift takes two dumps of the cluster gap apart with nothing
// normalised or skipped and returns their Diff: what changes by itself in
// a cluster nobody touches. It is how Normalize and skippedResources were
// chosen; it sleeps, so specs do not run it unless asked to.
func IdleDrift(ctx context.Context, kubectlPath, kubeconfig string, gap time.Duration) ([]string, error) {
	first, err := dump(ctx, kubectlPath, kubeconfig, false)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(gap):
	}
	second, err := dump(ctx, kubectlPath, kubeconfig, false)
	if err != nil {
		return nil, err
	}
	return Diff(first, second), nil
}
