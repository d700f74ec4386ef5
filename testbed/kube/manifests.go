// Package kube is the Kubernetes layer every cluster provider shares (kind
// today): every plan node becomes a Kubernetes node labelled with its tier
// and site (LabelTier, LabelSite), edgenode runs as one Deployment per site
// pinned to the site's nodes behind a Service, and each camera host's fleet
// runs as a pod on its own camera node. It renders the manifests, applies
// them, starts and stops the cameras, watches nodes and pods for the
// failover breakdown, diagnoses failed runs and tunnels pod traffic through
// the emulated links. A provider brings only its clusters (create, delete,
// kubectl access: Cluster), the machines under them (node containers:
// Machines) and the workload images.
//
// This file turns a provider.Plan into Kubernetes manifests; it is pure and
// needs no cluster.
package kube

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/scenarios"
	"github.com/edgesim/edgesim/testbed/provider"
	"github.com/edgesim/edgesim/units"
)

// Names and paths shared by the manifests and the provider.
const (
	// DefaultNamespace holds a run's objects unless ManifestConfig.Namespace
	// names another.
	DefaultNamespace = "edgesim"
	EdgenodePort     = provider.EdgenodePort
	// TierCamera is the tier label of camera nodes (cloud and edge tiers
	// are provider.RoleCloud and provider.RoleEdge).
	TierCamera = "camera"
	// CloudSite is the site label of cloud nodes.
	CloudSite = "cloud"
	// HostDataDir is the directory on node containers holding alerts,
	// the edge alert spools and camera samples, kept there when pods end.
	HostDataDir = "/var/lib/edgesim"

	// configDir is where a workload's ConfigMap is mounted.
	configDir = "/etc/edgesim"

	labelApp  = "app.kubernetes.io/name"
	labelPart = "app.kubernetes.io/part-of"
	labelSite = LabelSite
	// LabelTier and LabelSite are the node labels the workloads are pinned
	// by: every provider puts them on the node of each plan node (Bindings
	// says which values).
	LabelTier = "edgesim.dev/tier"
	LabelSite = "edgesim.dev/site"
	// labelHardware names the hardware class (spec.hardware) of a tier's nodes.
	labelHardware = "edgesim.dev/hardware"
)

// ManifestConfig is what the manifests need besides the plan.
type ManifestConfig struct {
	// EdgenodeImage runs `edgenode serve`; CamerasImage runs
	// `edgesim fakecam`. Both must already be loaded on the nodes (they are
	// never pulled).
	EdgenodeImage, CamerasImage string
	// TolerationSeconds is how long pods stay bound to a not-ready or
	// unreachable node before Kubernetes evicts them (default 5).
	TolerationSeconds int64
	// CloudURL, when set, is how the sites reach the cloud edgenodes from
	// their own clusters (the federated layout): the cloud Service is then
	// a NodePort Service on CloudNodePort, and edge upstreams and cameras'
	// cloud endpoints use CloudURL instead of the in-cluster Service name.
	CloudURL string
	// Token is the run token (provider.NewRunToken): kept in a Secret and
	// given to edgenodes and cameras through their environment; empty =
	// the edgenodes are open.
	Token string
	// Models are the model directories the plan's edgenodes run, by path
	// (ReadModels); each is shipped in a ConfigMap.
	Models map[string]ModelFiles
	// Namespace holds every object of the run ("" = DefaultNamespace).
	Namespace string
	// NamespaceLabels are put on the namespace (e.g. the run's ownership
	// label, which `edgesim clean` checks before deleting it).
	NamespaceLabels map[string]string
	// PullPolicy is the workload containers' imagePullPolicy: "" is
	// Never (the images were loaded onto the nodes); a cluster that pulls
	// them from a registry uses IfNotPresent.
	PullPolicy string
	// NodeNames, when set, pins workloads to Kubernetes nodes by name
	// (plan node -> node name) instead of by the LabelTier and LabelSite
	// node labels: a cluster edgesim did not create has no such labels.
	NodeNames map[string]string
}

func (c ManifestConfig) pullPolicy() string {
	if c.PullPolicy == "" {
		return "Never"
	}
	return c.PullPolicy
}

// pin is how pods of the plan nodes nodes (of one tier and site) are kept
// on their nodes: by node labels, or by node names when NodeNames is set.
func (c ManifestConfig) pin(tier, site string, nodes ...provider.Node) (map[string]string, *Affinity) {
	if c.NodeNames == nil {
		return map[string]string{LabelTier: tier, LabelSite: site}, nil
	}
	var names []string
	for _, n := range nodes {
		names = append(names, c.NodeNames[n.Name])
	}
	return nil, NodeNameAffinity(names)
}

// NodeNameAffinity requires one of the nodes named (a field selector on
// metadata.name takes one value per term; terms are alternatives).
func NodeNameAffinity(names []string) *Affinity {
	var terms []NodeSelectorTerm
	for _, n := range names {
		terms = append(terms, NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{n}}}})
	}
	return &Affinity{NodeAffinity: &NodeAffinity{Required: &NodeSelector{Terms: terms}}}
}

// Ns is the namespace of the run's objects.
func (c ManifestConfig) Ns() string {
	if c.Namespace == "" {
		return DefaultNamespace
	}
	return c.Namespace
}

// TokenSecret is the Secret holding the run token, under the key "token".
const TokenSecret = "edgesim-token"

// tokenEnv is the environment that takes the run token from TokenSecret
// into each variable of env (provider.EdgenodeTokenEnv, CamerasTokenEnv).
func (c ManifestConfig) tokenEnv(env []string) []EnvVar {
	if c.Token == "" {
		return nil
	}
	var out []EnvVar
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		out = append(out, EnvVar{Name: name, ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Name: TokenSecret, Key: "token"}}})
	}
	return out
}

// CloudNodePort is the cloud edgenode Service's node port in the
// federated layout.
const CloudNodePort = 30080

// cloudURL is the base URL of the cloud edgenodes as the sites see them.
func (c ManifestConfig) cloudURL(path string) string {
	if c.CloudURL != "" {
		return strings.TrimSuffix(c.CloudURL, "/") + path
	}
	return c.ServiceURL("", path)
}

// SpoolDir is where the edgenode Deployment name keeps its alert spool on
// each node.
func SpoolDir(name string) string { return HostDataDir + "/spool/" + name }

// Binding is the Kubernetes node a plan node runs on: its role and the
// values of its LabelTier and LabelSite labels.
type Binding struct {
	Node       string
	Role       provider.Role
	Tier, Site string
}

// Bindings returns one Kubernetes node per plan node, in plan order: cloud
// nodes get tier "cloud" and site "cloud", edge nodes tier "edge" and their
// site, camera hosts tier "camera" and a site of their own (the site, or
// its cloud-placement mirror).
func Bindings(plan *provider.Plan) []Binding {
	out := make([]Binding, 0, len(plan.Nodes))
	for _, n := range plan.Nodes {
		b := Binding{Node: n.Name, Role: n.Role}
		switch n.Role {
		case provider.RoleCloud:
			b.Tier, b.Site = string(provider.RoleCloud), CloudSite
		case provider.RoleEdge:
			b.Tier, b.Site = string(provider.RoleEdge), n.Site
		case provider.RoleCamera:
			b.Tier, b.Site = TierCamera, cameraSite(n)
		}
		out = append(out, b)
	}
	return out
}

// cameraSite is the site label of a camera host: "<site>" or
// "<site>-via-cloud" for a mirror.
func cameraSite(n provider.Node) string { return strings.TrimSuffix(n.Name, "-cams") }

// EdgenodeName is the Deployment and Service name of a site's edgenodes
// (site "" for the cloud).
func EdgenodeName(site string) string {
	if site == "" {
		return "edgenode-cloud"
	}
	return "edgenode-" + site
}

// CamerasName is the pod name of a camera host's fleet.
func CamerasName(host string) string { return "cameras-" + host }

// ServiceURL is the in-cluster URL of a site's (or, for "", the cloud's)
// edgenode Service. The name is rooted (a trailing dot): with the pods'
// ndots:5 an unrooted name is first tried with every search domain, and
// the node's own (kind's container network, e.g. dns.podman) sends the
// query to resolvers outside the cluster, which may take seconds to fail
// where no outside resolver answers; the cameras then stall at start-up.
func (c ManifestConfig) ServiceURL(site, path string) string {
	return fmt.Sprintf("http://%s.%s.svc.cluster.local.:%d%s", EdgenodeName(site), c.Ns(), EdgenodePort, path)
}

// Manifests returns the objects of a plan in apply order: the namespace,
// then per tier (cloud first) the rules ConfigMap, edgenode Deployment,
// Service and PodDisruptionBudget. Cameras are separate (CameraManifests):
// they start after the edgenodes are ready.
func Manifests(plan *provider.Plan, cfg ManifestConfig) ([]Object, error) {
	if err := check(plan, cfg); err != nil {
		return nil, err
	}
	objs := []Object{&NamespaceObject{Meta: meta("v1", "Namespace", cfg.Ns(), "", cfg.NamespaceLabels)}}
	if cfg.Token != "" { // no site label: every cluster gets it, as the namespace
		objs = append(objs, &Secret{Meta: meta("v1", "Secret", TokenSecret, cfg.Ns(), map[string]string{labelPart: "edgesim"}),
			StringData: map[string]string{"token": cfg.Token}})
	}
	cloud := plan.NodesOf(provider.RoleCloud)
	tiers := [][]provider.Node{cloud}
	var sites []string
	bySite := map[string][]provider.Node{}
	for _, n := range plan.NodesOf(provider.RoleEdge) {
		if _, ok := bySite[n.Site]; !ok {
			sites = append(sites, n.Site)
		}
		bySite[n.Site] = append(bySite[n.Site], n)
	}
	for _, s := range sites {
		tiers = append(tiers, bySite[s])
	}
	for _, nodes := range tiers {
		o, err := edgenodeObjects(plan, nodes, cfg)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

func check(plan *provider.Plan, cfg ManifestConfig) error {
	var errs []string
	if cfg.EdgenodeImage == "" || cfg.CamerasImage == "" {
		errs = append(errs, "images: both the edgenode and the cameras image are required (the provider builds and loads them before Deploy)")
	}
	if plan == nil || plan.Scenario == nil {
		return fmt.Errorf("kube: no plan: build one with provider.NewPlan")
	}
	if len(plan.NodesOf(provider.RoleCloud)) == 0 {
		errs = append(errs, "plan: no cloud node")
	}
	for _, n := range plan.Nodes {
		if p := modelPath(plan, n); p != "" && cfg.Models[p] == nil && !rolledSite(plan, n) {
			errs = append(errs, fmt.Sprintf("model %s of node %s: not read (kube.ReadModels)", p, n.Name))
			break
		}
	}
	if len(errs) > 0 {
		return errors.New("kube: " + strings.Join(errs, "; "))
	}
	return nil
}

func meta(apiVersion, kind, name, ns string, labels map[string]string) Meta {
	return Meta{APIVersion: apiVersion, Kind: kind, Metadata: ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
}

func appLabels(name, site string) map[string]string {
	return map[string]string{labelApp: name, labelPart: "edgesim", labelSite: site}
}

// edgenodeObjects are the objects of one tier: the cloud nodes, or the
// edge nodes of one site.
func edgenodeObjects(plan *provider.Plan, nodes []provider.Node, cfg ManifestConfig) ([]Object, error) {
	first := nodes[0]
	site, siteLabel, tier := first.Site, first.Site, string(first.Role)
	if first.Role == provider.RoleCloud {
		site, siteLabel = "", CloudSite
	}
	name := EdgenodeName(site)
	env := provider.EdgenodeEnv{RulesFile: configDir + "/rules.yaml", SpoolDir: "/spool", CloudURL: cfg.cloudURL("")}
	model, rolled := modelPath(plan, first), rolledSite(plan, first)
	switch {
	case rolled: // the model a rollout switches on the node (see rollout.go)
		env.ModelDir = swapMount + "/" + currentModel
	case model != "":
		env.ModelDir = modelDir
	}
	if first.Role == provider.RoleCloud {
		env.AlertsFile = "/alerts/alerts.jsonl"
	}
	configYAML, rulesYAML, err := provider.EdgenodeFiles(plan, first, env)
	if err != nil {
		return nil, err
	}
	labels := appLabels(name, siteLabel)
	if c := first.Resources.Class; c != "" {
		labels[labelHardware] = c
	}
	sel := map[string]string{labelApp: name}
	// Every replica is named after its pod, on the command line.
	args := append([]string{"/edgenode"}, provider.EdgenodeArgs(configDir+"/edgenode.yaml", "--node-id", "$(POD_NAME)")...)
	// The alert spool is on the node, not in the pod: a replica restarted
	// or rescheduled onto the node delivers what the last one queued.
	// Replicas on one node share it; one may resend the other's backlog
	// at start, which the cloud removes by alert id.
	vols := []Volume{
		{Name: "config", ConfigMap: &ConfigMapVolume{Name: name + "-config"}},
		{Name: "spool", HostPath: &HostPathVolume{Path: SpoolDir(name), Type: "DirectoryOrCreate"}},
	}
	mounts := []VolumeMount{{Name: "config", MountPath: configDir, ReadOnly: true}, {Name: "spool", MountPath: "/spool"}}
	switch {
	case rolled:
		vols = append(vols, Volume{Name: "models", HostPath: &HostPathVolume{Path: ModelsDir(name), Type: "DirectoryOrCreate"}})
		mounts = append(mounts, VolumeMount{Name: "models", MountPath: swapMount, ReadOnly: true})
	case model != "":
		vols = append(vols, Volume{Name: "model", ConfigMap: &ConfigMapVolume{Name: name + "-model"}})
		mounts = append(mounts, VolumeMount{Name: "model", MountPath: modelDir, ReadOnly: true})
	}
	if first.Role == provider.RoleCloud {
		vols = append(vols, Volume{Name: "alerts", HostPath: &HostPathVolume{Path: HostDataDir + "/alerts", Type: "DirectoryOrCreate"}})
		mounts = append(mounts, VolumeMount{Name: "alerts", MountPath: "/alerts"})
	}
	res, vars := resources(first.Resources)
	vars = append([]EnvVar{{Name: "POD_NAME", ValueFrom: &EnvVarSource{FieldRef: &FieldRef{FieldPath: "metadata.name"}}}}, vars...)
	vars = append(vars, cfg.tokenEnv(provider.EdgenodeTokenEnv(cfg.Token, first.Role))...)
	probe := func(path string, failures int) *Probe {
		return &Probe{HTTPGet: HTTPGetAction{Path: path, Port: "http"}, PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: failures}
	}
	nodeSel, affinity := cfg.pin(tier, siteLabel, nodes...)
	dep := &Deployment{
		Meta: meta("apps/v1", "Deployment", name, cfg.Ns(), labels),
		Spec: DeploymentSpec{
			Replicas: len(nodes),
			Selector: LabelSelector{MatchLabels: sel},
			Template: PodTemplateSpec{
				Metadata: ObjectMeta{Labels: labels},
				Spec: PodSpec{
					NodeSelector: nodeSel,
					Affinity:     affinity,
					Tolerations:  tolerations(cfg.TolerationSeconds),
					TopologySpreadConstraints: []TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: "ScheduleAnyway",
						LabelSelector: LabelSelector{MatchLabels: sel},
					}},
					TerminationGracePeriodSeconds: new(int64(10)),
					EnableServiceLinks:            new(false),
					Containers: []Container{{
						Name: "edgenode", Image: cfg.EdgenodeImage, ImagePullPolicy: cfg.pullPolicy(),
						Command:        args,
						Env:            vars,
						Ports:          []ContainerPort{{Name: "http", ContainerPort: EdgenodePort, Protocol: "TCP"}},
						Resources:      res,
						ReadinessProbe: probe("/readyz", 2),
						LivenessProbe:  probe("/healthz", 5),
						VolumeMounts:   mounts,
					}},
					Volumes: vols,
				},
			},
		},
	}
	svc := &Service{Meta: meta("v1", "Service", name, cfg.Ns(), labels), Spec: ServiceSpec{
		Selector: sel,
		Ports:    []ServicePort{{Name: "http", Port: EdgenodePort, TargetPort: "http", Protocol: "TCP"}},
	}}
	if first.Role == provider.RoleCloud && cfg.CloudURL != "" {
		svc.Spec.Type, svc.Spec.Ports[0].NodePort = "NodePort", CloudNodePort
	}
	objs := []Object{&ConfigMap{Meta: meta("v1", "ConfigMap", name+"-config", cfg.Ns(), labels), Data: map[string]string{
		"edgenode.yaml": string(configYAML), "rules.yaml": string(rulesYAML)}}}
	if model != "" && !rolled {
		objs = append(objs, modelConfigMap(name, cfg.Ns(), cfg.Models[model], labels))
	}
	return append(objs,
		dep,
		svc,
		&PodDisruptionBudget{Meta: meta("policy/v1", "PodDisruptionBudget", name, cfg.Ns(), labels), Spec: PDBSpec{
			MaxUnavailable: 1, Selector: LabelSelector{MatchLabels: sel},
		}},
	), nil
}

// resources turns a node's size into the container's limits (the node's
// size) and requests (half of it, so that several emulated nodes fit on a
// small host: every kind node reports the whole host's capacity), and sets
// GOMAXPROCS to the CPU limit as the local provider does.
func resources(r scenarios.Resources) (ResourceRequirements, []EnvVar) {
	var out ResourceRequirements
	var env []EnvVar
	if r.CPU <= 0 && r.Memory <= 0 {
		return out, nil
	}
	out.Limits, out.Requests = map[string]string{}, map[string]string{}
	if r.CPU > 0 {
		out.Limits["cpu"] = fmt.Sprintf("%dm", int64(r.CPU))
		out.Requests["cpu"] = fmt.Sprintf("%dm", max(1, int64(r.CPU)/2))
		env = append(env, EnvVar{Name: "GOMAXPROCS", Value: strconv.Itoa(int(math.Max(1, math.Ceil(r.CPU.Cores()))))})
	}
	if r.Memory > 0 {
		out.Limits["memory"] = quantityBytes(r.Memory)
		out.Requests["memory"] = quantityBytes(r.Memory / 2)
	}
	return out, env
}

func quantityBytes(b units.ByteSize) string {
	const mi = 1 << 20
	if b%mi == 0 {
		return fmt.Sprintf("%dMi", int64(b)/mi)
	}
	return strconv.FormatInt(int64(b), 10)
}

// defaultTolerationSeconds is ManifestConfig.TolerationSeconds' default.
const defaultTolerationSeconds = 5

// FailoverSettings says how a cluster with the given node grace period
// (its nodes' lease and status settings follow from it, as the kind and
// K3s clusters set them) and pod tolerations is tuned for fast failover,
// next to Kubernetes' defaults: for the run's progress and its report.
func FailoverSettings(grace time.Duration, tolerationSeconds int64) string {
	renew := max(1, int64(grace/time.Second)/5)
	if tolerationSeconds <= 0 {
		tolerationSeconds = defaultTolerationSeconds
	}
	return fmt.Sprintf("node-monitor-period 1s (default 5s), node-monitor-grace-period %s (default 50s), "+
		"kubelet lease %ds renewed every %ds and status posted every %ds (defaults 40s, 10s, 10s), "+
		"edgenode pods tolerate not-ready/unreachable for %ds (default 300s)",
		grace, 4*renew, renew, renew, tolerationSeconds)
}

func tolerations(seconds int64) []Toleration {
	if seconds <= 0 {
		seconds = defaultTolerationSeconds
	}
	var out []Toleration
	for _, k := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
		s := seconds
		out = append(out, Toleration{Key: k, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &s})
	}
	return out
}

// CameraManifests returns, per camera host, a ConfigMap with its fleet's
// configuration and a pod on the host's camera node streaming to the
// site's edgenode Service (then the cloud's). Samples are written to
// HostDataDir/samples/<host> on the camera node.
func CameraManifests(plan *provider.Plan, cfg ManifestConfig) ([]Object, error) {
	if err := check(plan, cfg); err != nil {
		return nil, err
	}
	var objs []Object
	for _, n := range plan.NodesOf(provider.RoleCamera) {
		b, err := cameraFleet(plan, n.Name, cfg)
		if err != nil {
			return nil, err
		}
		name := CamerasName(n.Name)
		labels := appLabels(name, cameraSite(n))
		nodeSel, affinity := cfg.pin(TierCamera, cameraSite(n), n)
		objs = append(objs,
			&ConfigMap{Meta: meta("v1", "ConfigMap", name, cfg.Ns(), labels), Data: map[string]string{"cameras.json": string(b)}},
			&Pod{Meta: meta("v1", "Pod", name, cfg.Ns(), labels), Spec: PodSpec{
				NodeSelector:       nodeSel,
				Affinity:           affinity,
				RestartPolicy:      "Never",
				EnableServiceLinks: new(false),
				Containers: []Container{{
					Name: "fakecam", Image: cfg.CamerasImage, ImagePullPolicy: cfg.pullPolicy(),
					Command: append([]string{"/edgesim"}, provider.CamerasArgs(configDir+"/cameras.json", "/samples")...),
					Env:     cfg.tokenEnv(provider.CamerasTokenEnv(cfg.Token)),
					VolumeMounts: []VolumeMount{
						{Name: "config", MountPath: configDir, ReadOnly: true},
						{Name: "samples", MountPath: "/samples"},
					},
				}},
				Volumes: []Volume{
					{Name: "config", ConfigMap: &ConfigMapVolume{Name: name}},
					{Name: "samples", HostPath: &HostPathVolume{Path: SamplesDir(n.Name), Type: "DirectoryOrCreate"}},
				},
			}},
		)
	}
	return objs, nil
}

// SamplesDir is where a camera host's samples land on its camera node.
func SamplesDir(host string) string { return HostDataDir + "/samples/" + host }

// cameraFleet is the fleet of a camera host with each camera's edgenodes
// turned into their Services, in failover order: the site's Service once
// per edge node of the site (after losing a session a camera tries the
// site again, where kube-proxy picks a replica, as many times as the site
// has nodes), then the cloud's.
func cameraFleet(plan *provider.Plan, host string, cfg ManifestConfig) ([]byte, error) {
	return provider.CamerasFile(plan, host, func(node string) string {
		n, _ := plan.Node(node)
		if n.Role == provider.RoleEdge {
			return cfg.ServiceURL(n.Site, "/whip")
		}
		return cfg.cloudURL("/whip")
	})
}

// Render writes objects as one multi-document YAML stream, as kubectl
// apply -f - reads it.
func Render(objs []Object) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(o); err != nil {
			return nil, fmt.Errorf("kube: render %s %s: %w", o.header().Kind, o.header().Metadata.Name, err)
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
