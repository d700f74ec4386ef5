package plan

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
)

// JobOptions shape the Kubernetes objects that run a plan's shards.
type JobOptions struct {
	// Name prefixes every object (default the plan's name).
	Name      string
	Namespace string // default edgesim-plan; "default" creates no Namespace
	Image     string // an image holding the edgesim binary at Binary
	Binary    string // default /edgesim
	Shards    int
	// Parallelism bounds the shard pods running at once (default Shards).
	Parallelism int
	// Seed, when set, is passed to every shard.
	Seed *int64
	// Shard files go to a volume that every shard pod and the merge pod
	// mount: a PersistentVolumeClaim the manifest creates (ReadWriteMany,
	// StorageClass optional), or, with HostPath and Node, a directory on one
	// node that every pod is scheduled to (kind, or clusters without
	// ReadWriteMany storage).
	StorageClass   string
	StorageSize    string // default 1Gi
	HostPath, Node string
	// MergeWait bounds how long the merge pod waits for the shards
	// (default 2h).
	MergeWait time.Duration
}

// object is one Kubernetes object as YAML builds it.
type object = map[string]any

// JobManifest returns the objects that run a plan on a Kubernetes cluster,
// as one YAML stream: a ConfigMap with the plan, its scenario (when it is a
// file of its own) and the calibration; an Indexed Job whose pod i runs
// "edgesim plan --shard i/N" (JOB_COMPLETION_INDEX) and writes its shard
// file to the shared volume; and a merge Job whose pod waits until every
// shard file is there ("edgesim plan merge --wait"), writes report.json
// beside them and prints it as its log. Trace files are not shipped: a plan
// whose links use traces is refused.
func JobManifest(p *Plan, calibration []byte, o JobOptions) (string, error) {
	if o.Shards < 1 || o.Image == "" {
		return "", errors.New("plan job: need --shards N (at least 1) and --image (an image with the edgesim binary)")
	}
	if (o.HostPath == "") != (o.Node == "") {
		return "", errors.New("plan job: a host path volume needs a node to pin every pod to (--host-path and --node go together)")
	}
	if err := noTraces(p); err != nil {
		return "", err
	}
	o.Name = cmpOr(o.Name, p.Name)
	o.Namespace = cmpOr(o.Namespace, "edgesim-plan")
	o.Binary = cmpOr(o.Binary, "/edgesim")
	o.StorageSize = cmpOr(o.StorageSize, "1Gi")
	if o.Parallelism < 1 || o.Parallelism > o.Shards {
		o.Parallelism = o.Shards
	}
	if o.MergeWait <= 0 {
		o.MergeWait = 2 * time.Hour
	}
	planYAML, err := p.portable()
	if err != nil {
		return "", err
	}
	files := map[string]string{"plan.yaml": planYAML, "calibration.yaml": string(calibration)}
	if p.ScenarioFile != "" {
		files["scenario.yaml"] = string(p.scenarioData)
	}
	labels := map[string]any{"app.kubernetes.io/name": "edgesim-plan", "edgesim.dev/plan": o.Name}
	meta := func(name string) object {
		return object{"name": name, "namespace": o.Namespace, "labels": labels}
	}
	var objs []object
	if o.Namespace != "default" {
		objs = append(objs, object{"apiVersion": "v1", "kind": "Namespace", "metadata": object{"name": o.Namespace}})
	}
	objs = append(objs, object{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(o.Name + "-plan"), "data": files})
	shards := object{"name": "shards"}
	if o.HostPath != "" {
		shards["hostPath"] = object{"path": o.HostPath, "type": "DirectoryOrCreate"}
	} else {
		spec := object{"accessModes": []string{"ReadWriteMany"}, "resources": object{"requests": object{"storage": o.StorageSize}}}
		if o.StorageClass != "" {
			spec["storageClassName"] = o.StorageClass
		}
		objs = append(objs, object{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(o.Name + "-shards"), "spec": spec})
		shards["persistentVolumeClaim"] = object{"claimName": o.Name + "-shards"}
	}
	volumes := []object{{"name": "plan", "configMap": object{"name": o.Name + "-plan"}}, shards}
	mounts := []object{{"name": "plan", "mountPath": "/plan", "readOnly": true}, {"name": "shards", "mountPath": "/shards"}}
	pod := func(container object) object {
		spec := object{"restartPolicy": "Never", "containers": []object{container}, "volumes": volumes}
		if o.Node != "" {
			spec["nodeSelector"] = object{"kubernetes.io/hostname": o.Node}
		}
		return object{"metadata": object{"labels": labels}, "spec": spec}
	}
	run := []string{o.Binary, "plan", "/plan/plan.yaml", "--calibration", "/plan/calibration.yaml",
		"--shard", fmt.Sprintf("$(JOB_COMPLETION_INDEX)/%d", o.Shards), "--out", "/shards"}
	if o.Seed != nil {
		run = append(run, "--seed", fmt.Sprint(*o.Seed))
	}
	objs = append(objs, object{"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(o.Name + "-shards"),
		"spec": object{"completionMode": "Indexed", "completions": o.Shards, "parallelism": o.Parallelism, "backoffLimit": o.Shards,
			"template": pod(object{"name": "shard", "image": o.Image, "imagePullPolicy": "IfNotPresent", "command": run,
				"env": []object{{"name": "JOB_COMPLETION_INDEX", "valueFrom": object{"fieldRef": object{
					"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}},
				"volumeMounts": mounts})}})
	merge := []string{o.Binary, "plan", "merge", "--wait", o.MergeWait.String(), "--json", "--out", "/shards/report", "/shards"}
	objs = append(objs, object{"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(o.Name + "-merge"),
		"spec": object{"completions": 1, "backoffLimit": 2,
			"template": pod(object{"name": "merge", "image": o.Image, "imagePullPolicy": "IfNotPresent", "command": merge,
				"volumeMounts": mounts})}})
	var b bytes.Buffer
	for i, obj := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(obj); err != nil {
			return "", err
		}
		_ = enc.Close()
	}
	return b.String(), nil
}

// portable is the plan file as the shard pods read it: the scenario and
// the calibration next to it (scenario.yaml, calibration.yaml).
func (p *Plan) portable() (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(p.planData, &doc); err != nil || len(doc.Content) == 0 {
		return "", fmt.Errorf("plan job: re-read the plan file: %v", err)
	}
	spec := mapValue(doc.Content[0], "spec")
	if p.ScenarioFile != "" {
		if n := mapValue(spec, "scenario"); n != nil {
			*n = *scalar("scenario.yaml")
		}
	}
	if n := mapValue(spec, "calibration"); n != nil {
		*n = *scalar("calibration.yaml")
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", err
	}
	return b.String(), enc.Close()
}

// noTraces refuses plans whose links replay trace files, which the
// manifest does not ship.
func noTraces(p *Plan) error {
	all := []*scenarios.Scenario{p.Scenario}
	for _, sc := range p.links {
		all = append(all, sc)
	}
	for _, sc := range all {
		for _, l := range sc.Links {
			if l.Up.Trace != "" || l.Down.Trace != "" {
				return fmt.Errorf("plan job: link %s replays trace files (%s), which the job does not ship yet: run the shards with --shard on machines that have the files, or use rates",
					l.Name, strings.TrimSpace(filepath.Base(l.Up.Trace)+" "+filepath.Base(l.Down.Trace)))
			}
		}
	}
	return nil
}
