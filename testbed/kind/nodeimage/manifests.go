package nodeimage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// cniManifest is the node image's /kind/manifests/default-cni.yaml. kind
// applies it at cluster creation; the marker line asks kind to add the
// CONTROL_PLANE_ENDPOINT variable, so the CNI reaches the API server before
// kube-proxy runs.
var cniManifest = template.Must(template.New("cni").Parse(`# edgesim pod network: routes between node PodCIDRs (ptp + host-local)
# would you kindly patch this file
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: edgesim-cni
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: edgesim-cni
rules:
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["list", "watch", "get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: edgesim-cni
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: edgesim-cni
subjects:
- kind: ServiceAccount
  name: edgesim-cni
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: edgesim-cni
  namespace: kube-system
  labels:
    app: edgesim-cni
    k8s-app: edgesim-cni
spec:
  selector:
    matchLabels:
      app: edgesim-cni
  template:
    metadata:
      labels:
        app: edgesim-cni
        k8s-app: edgesim-cni
    spec:
      hostNetwork: true
      serviceAccountName: edgesim-cni
      priorityClassName: system-node-critical
      tolerations:
      - operator: Exists
      nodeSelector:
        kubernetes.io/os: linux
      containers:
      - name: edgesim-cni
        image: {{ .Image }}
        imagePullPolicy: IfNotPresent
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: HOST_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        securityContext:
          privileged: true
        resources:
          requests:
            cpu: 10m
            memory: 20Mi
        volumeMounts:
        - name: cni-cfg
          mountPath: /etc/cni/net.d
      volumes:
      - name: cni-cfg
        hostPath:
          path: /etc/cni/net.d
          type: DirectoryOrCreate
`))

// CNIManifest renders the default CNI manifest for the CNI image ref.
func CNIManifest(image string) ([]byte, error) {
	if image == "" || strings.ContainsAny(image, " \n\t") {
		return nil, fmt.Errorf("CNI image reference %q is not valid", image)
	}
	var b bytes.Buffer
	if err := cniManifest.Execute(&b, struct{ Image string }{image}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var oomScoreRE = regexp.MustCompile(`(?m)^([ \t]*restrict_oom_score_adj[ \t]*=[ \t]*)false[ \t]*$`)
var criSectionRE = regexp.MustCompile(`(?m)^\[plugins\."io\.containerd\.grpc\.v1\.cri"\]\s*$`)

var fuseProxyRE = regexp.MustCompile(`(?m)^\[proxy_plugins\."fuse-overlayfs"\][ \t]*\n(?:[ \t]+\S[^\n]*\n)*`)

// patchContainerdConfig sets restrict_oom_score_adj = true in kind's
// containerd config: where the container runtime lacks CAP_SYS_RESOURCE,
// runc otherwise fails to lower a container's oom_score_adj. With
// builtinFuse (K3s's containerd, which compiles the fuse-overlayfs
// snapshotter in) it drops kind's proxy plugin of the same name, which
// would otherwise make containerd panic at start ("plugin: id already
// registered"); the built-in one serves the same snapshotter name.
func patchContainerdConfig(in []byte, builtinFuse bool) ([]byte, error) {
	if builtinFuse {
		in = fuseProxyRE.ReplaceAll(in, []byte("# [proxy_plugins.\"fuse-overlayfs\"] dropped by edgesim: this containerd has fuse-overlayfs built in\n"))
	}
	if oomScoreRE.Match(in) {
		return oomScoreRE.ReplaceAll(in, []byte("${1}true")), nil
	}
	if bytes.Contains(in, []byte("restrict_oom_score_adj = true")) {
		return in, nil
	}
	loc := criSectionRE.FindIndex(in)
	if loc == nil {
		return nil, fmt.Errorf("containerd config has no [plugins.\"io.containerd.grpc.v1.cri\"] section to set restrict_oom_score_adj in")
	}
	out := append([]byte{}, in[:loc[1]]...)
	out = append(out, []byte("\n  restrict_oom_score_adj = true")...)
	return append(out, in[loc[1]:]...), nil
}

// criBaseSpec turns the output of "ctr oci spec" into kind's
// /etc/containerd/cri-base.json: a createContainer hook that mounts the
// product files, and no default rlimits.
func criBaseSpec(spec []byte) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, fmt.Errorf("ctr oci spec: %w", err)
	}
	hooks, _ := s["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
	}
	create, _ := hooks["createContainer"].([]any)
	hooks["createContainer"] = append(create, map[string]any{"path": "/kind/bin/mount-product-files.sh"})
	s["hooks"] = hooks
	if p, ok := s["process"].(map[string]any); ok {
		delete(p, "rlimits")
	}
	return json.MarshalIndent(s, "", "  ")
}
