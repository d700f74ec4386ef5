package provider

import (
	"crypto/rand"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/edgesim/edgesim/fakecam"
	"github.com/edgesim/edgesim/runtime/node/nodeconfig"
	"github.com/edgesim/edgesim/scenarios"
)

// The launch contract of the workloads, the same with every provider:
// edgenode runs as `edgenode serve --config FILE` and a camera host's fleet
// as `edgesim fakecam --config FILE --out DIR --quiet`, each file rendered
// here from the plan. Providers decide only where the files are and how the
// workloads reach each other (EdgenodeEnv, the WHIP URLs).

// EdgenodePort is the port edgenode listens on, with every provider.
const EdgenodePort = 8080

// EdgenodeEnv is what a provider decides for an edgenode: its name, where
// its files are as the process sees them, and how it reaches the cloud.
type EdgenodeEnv struct {
	// NodeID names the edgenode; "" when the provider names each replica
	// on the command line instead (EdgenodeArgs' overrides).
	NodeID     string
	RulesFile  string // the rules file (EdgenodeFiles' rules)
	SpoolDir   string // undelivered alerts
	AlertsFile string // cloud nodes: the JSONL of received alerts
	CloudURL   string // edge nodes: the cloud edgenodes' base URL
	// ModelDir, when set, is the model directory the edgenode loads (and
	// reloads on POST /admin/model) instead of the scenario's: a rollout
	// switches what it holds.
	ModelDir string
}

// EdgenodeConfig returns the configuration of node n's edgenode: the
// listen port, the scenario's detection rate and model, the rules, and by
// role the cloud's alerts file or the edge's upstream.
func EdgenodeConfig(plan *Plan, n Node, env EdgenodeEnv) nodeconfig.File {
	w := plan.Scenario.Workload
	f := nodeconfig.File{
		Listen:    new(fmt.Sprintf(":%d", EdgenodePort)),
		DetectFPS: new(w.DetectFPS),
		SpoolDir:  new(env.SpoolDir),
		Rules:     new(env.RulesFile),
	}
	if env.NodeID != "" {
		f.NodeID = new(env.NodeID)
	}
	if ref := ModelOf(plan, n).Ref(); ref != "" {
		f.Model = new(ref)
	}
	if env.ModelDir != "" {
		f.Model = new(env.ModelDir)
	}
	switch n.Role {
	case RoleCloud:
		f.Mode, f.AlertsFile = new("cloud"), new(env.AlertsFile)
	case RoleEdge:
		f.Mode, f.Upstream = new("edge"), new(env.CloudURL)
	}
	return f
}

// ModelOf is the detection model node n runs: an edge node its site's
// (the site's workload.model, or else the scenario's), a cloud node the
// scenario's.
func ModelOf(plan *Plan, n Node) scenarios.Model {
	if n.Role == RoleEdge {
		return plan.Scenario.SiteModel(n.Site)
	}
	return plan.Scenario.Workload.Model
}

// EdgenodeFiles renders node n's edgenode configuration (EdgenodeConfig)
// and its rules file (RulesFor), for the provider to put where env says.
func EdgenodeFiles(plan *Plan, n Node, env EdgenodeEnv) (config, rules []byte, err error) {
	config, err = EdgenodeConfig(plan, n, env).Marshal()
	if err != nil {
		return nil, nil, err
	}
	rules, err = yaml.Marshal(RulesFor(plan, n))
	return config, rules, err
}

// EdgenodeArgs is the command line, after the program, of an edgenode
// reading configFile; flags in overrides win over the file's values.
func EdgenodeArgs(configFile string, overrides ...string) []string {
	return append([]string{"serve", "--config", configFile}, overrides...)
}

// The run token: every provider makes one per run (NewRunToken) and hands
// it to the workloads in their environment, never on the command line,
// where ps shows it. edgenode then requires it on WHIP, admin and alert
// reads and posts; edge nodes send it upstream and cameras send it with
// their offers.
const (
	EnvEdgenodeToken = "EDGENODE_TOKEN"          // edgenode serve --token
	EnvUpstreamToken = "EDGENODE_UPSTREAM_TOKEN" // edgenode serve --upstream-token
	EnvCameraToken   = fakecam.TokenEnv          // edgesim fakecam: the WHIP bearer token
)

// NewRunToken returns a fresh random token for one run.
func NewRunToken() string { return rand.Text() }

// EdgenodeTokenEnv is the environment that gives an edgenode of role the
// run token: its own, and an edge node's for its upstream.
func EdgenodeTokenEnv(token string, role Role) []string {
	env := []string{EnvEdgenodeToken + "=" + token}
	if role == RoleEdge {
		env = append(env, EnvUpstreamToken+"="+token)
	}
	return env
}

// CamerasTokenEnv is the environment that gives a camera fleet the token.
func CamerasTokenEnv(token string) []string { return []string{EnvCameraToken + "=" + token} }

// CamerasFile renders the fleet of a camera host (FleetConfig), the file
// `edgesim fakecam --config` reads.
func CamerasFile(plan *Plan, host string, whipURL func(node string) string) ([]byte, error) {
	return json.MarshalIndent(FleetConfig(plan, host, whipURL), "", "  ")
}

// CamerasArgs is the command line, after the program, of a camera host's
// fleet reading configFile and writing its samples to outDir.
func CamerasArgs(configFile, outDir string) []string {
	return []string{"fakecam", "--config", configFile, "--out", outDir, "--quiet"}
}
