package kube

// The Kubernetes objects edgesim deploys, as small typed structs with the
// field names of the Kubernetes API (apps/v1, v1, policy/v1). Only the
// fields edgesim sets exist here; this keeps k8s.io/api out of the module.

// Meta is a Kubernetes object header.
type Meta struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   ObjectMeta `yaml:"metadata"`
}

// ObjectMeta is metadata.
type ObjectMeta struct {
	Name      string            `yaml:"name,omitempty"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

// Object is any object of a manifest.
type Object interface{ header() Meta }

// NamespaceObject is v1/Namespace.
type NamespaceObject struct {
	Meta `yaml:",inline"`
}

// Secret is v1/Secret.
type Secret struct {
	Meta       `yaml:",inline"`
	StringData map[string]string `yaml:"stringData"`
}

// ConfigMap is v1/ConfigMap.
type ConfigMap struct {
	Meta `yaml:",inline"`
	Data map[string]string `yaml:"data,omitempty"`
	// BinaryData holds base64-encoded contents.
	BinaryData map[string]string `yaml:"binaryData,omitempty"`
}

// Deployment is apps/v1/Deployment.
type Deployment struct {
	Meta `yaml:",inline"`
	Spec DeploymentSpec `yaml:"spec"`
}

// DeploymentSpec is a Deployment's spec.
type DeploymentSpec struct {
	Replicas int             `yaml:"replicas"`
	Selector LabelSelector   `yaml:"selector"`
	Template PodTemplateSpec `yaml:"template"`
}

// DaemonSet is apps/v1/DaemonSet.
type DaemonSet struct {
	Meta `yaml:",inline"`
	Spec DaemonSetSpec `yaml:"spec"`
}

// DaemonSetSpec is a DaemonSet's spec.
type DaemonSetSpec struct {
	Selector LabelSelector   `yaml:"selector"`
	Template PodTemplateSpec `yaml:"template"`
}

// LabelSelector selects by labels.
type LabelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// PodTemplateSpec is a pod template.
type PodTemplateSpec struct {
	Metadata ObjectMeta `yaml:"metadata"`
	Spec     PodSpec    `yaml:"spec"`
}

// Pod is v1/Pod.
type Pod struct {
	Meta `yaml:",inline"`
	Spec PodSpec `yaml:"spec"`
}

// PodSpec is a pod's spec.
type PodSpec struct {
	NodeSelector                  map[string]string          `yaml:"nodeSelector,omitempty"`
	Affinity                      *Affinity                  `yaml:"affinity,omitempty"`
	HostNetwork                   bool                       `yaml:"hostNetwork,omitempty"`
	DNSPolicy                     string                     `yaml:"dnsPolicy,omitempty"`
	Tolerations                   []Toleration               `yaml:"tolerations,omitempty"`
	TopologySpreadConstraints     []TopologySpreadConstraint `yaml:"topologySpreadConstraints,omitempty"`
	RestartPolicy                 string                     `yaml:"restartPolicy,omitempty"`
	TerminationGracePeriodSeconds *int64                     `yaml:"terminationGracePeriodSeconds,omitempty"`
	EnableServiceLinks            *bool                      `yaml:"enableServiceLinks,omitempty"`
	Containers                    []Container                `yaml:"containers"`
	Volumes                       []Volume                   `yaml:"volumes,omitempty"`
}

// Affinity is a pod's affinity (only the node affinity edgesim needs).
type Affinity struct {
	NodeAffinity *NodeAffinity `yaml:"nodeAffinity,omitempty"`
}

// NodeAffinity holds the node selector a pod requires.
type NodeAffinity struct {
	Required *NodeSelector `yaml:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector is a list of alternative node selector terms.
type NodeSelector struct {
	Terms []NodeSelectorTerm `yaml:"nodeSelectorTerms"`
}

// NodeSelectorTerm selects nodes by fields (metadata.name).
type NodeSelectorTerm struct {
	MatchFields []NodeSelectorRequirement `yaml:"matchFields,omitempty"`
}

// NodeSelectorRequirement is one requirement of a term.
type NodeSelectorRequirement struct {
	Key      string   `yaml:"key"`
	Operator string   `yaml:"operator"`
	Values   []string `yaml:"values"`
}

// Toleration tolerates a taint.
type Toleration struct {
	Key               string `yaml:"key"`
	Operator          string `yaml:"operator"`
	Effect            string `yaml:"effect"`
	TolerationSeconds *int64 `yaml:"tolerationSeconds,omitempty"`
}

// TopologySpreadConstraint spreads replicas over nodes.
type TopologySpreadConstraint struct {
	MaxSkew           int           `yaml:"maxSkew"`
	TopologyKey       string        `yaml:"topologyKey"`
	WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
	LabelSelector     LabelSelector `yaml:"labelSelector"`
}

// Container is one container of a pod.
type Container struct {
	Name            string               `yaml:"name"`
	Image           string               `yaml:"image"`
	ImagePullPolicy string               `yaml:"imagePullPolicy"`
	Command         []string             `yaml:"command"`
	Env             []EnvVar             `yaml:"env,omitempty"`
	Ports           []ContainerPort      `yaml:"ports,omitempty"`
	Resources       ResourceRequirements `yaml:"resources,omitempty"`
	ReadinessProbe  *Probe               `yaml:"readinessProbe,omitempty"`
	LivenessProbe   *Probe               `yaml:"livenessProbe,omitempty"`
	VolumeMounts    []VolumeMount        `yaml:"volumeMounts,omitempty"`
	SecurityContext *SecurityContext     `yaml:"securityContext,omitempty"`
}

// SecurityContext is a container's security context.
type SecurityContext struct {
	Privileged *bool `yaml:"privileged,omitempty"`
}

// EnvVar is an environment variable.
type EnvVar struct {
	Name      string        `yaml:"name"`
	Value     string        `yaml:"value,omitempty"`
	ValueFrom *EnvVarSource `yaml:"valueFrom,omitempty"`
}

// EnvVarSource takes a variable's value from the pod's own fields or
// from a Secret.
type EnvVarSource struct {
	FieldRef     *FieldRef          `yaml:"fieldRef,omitempty"`
	SecretKeyRef *SecretKeySelector `yaml:"secretKeyRef,omitempty"`
}

// SecretKeySelector names a key of a Secret.
type SecretKeySelector struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// FieldRef names a pod field, e.g. metadata.name.
type FieldRef struct {
	FieldPath string `yaml:"fieldPath"`
}

// ContainerPort is a port a container listens on.
type ContainerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

// ResourceRequirements are requests and limits, in Kubernetes quantities.
type ResourceRequirements struct {
	Requests map[string]string `yaml:"requests,omitempty"`
	Limits   map[string]string `yaml:"limits,omitempty"`
}

// Probe is an HTTP GET probe.
type Probe struct {
	HTTPGet          HTTPGetAction `yaml:"httpGet"`
	PeriodSeconds    int           `yaml:"periodSeconds"`
	TimeoutSeconds   int           `yaml:"timeoutSeconds"`
	FailureThreshold int           `yaml:"failureThreshold"`
}

// HTTPGetAction is the request of a probe.
type HTTPGetAction struct {
	Path string `yaml:"path"`
	Port string `yaml:"port"`
}

// VolumeMount mounts a volume into a container.
type VolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

// Volume is a ConfigMap, host path or pod-private volume.
type Volume struct {
	Name      string           `yaml:"name"`
	ConfigMap *ConfigMapVolume `yaml:"configMap,omitempty"`
	HostPath  *HostPathVolume  `yaml:"hostPath,omitempty"`
	EmptyDir  *EmptyDirVolume  `yaml:"emptyDir,omitempty"`
}

// EmptyDirVolume is a pod-private directory that survives container
// restarts.
type EmptyDirVolume struct{}

// ConfigMapVolume projects a ConfigMap.
type ConfigMapVolume struct {
	Name string `yaml:"name"`
}

// HostPathVolume mounts a directory of the node.
type HostPathVolume struct {
	Path string `yaml:"path"`
	Type string `yaml:"type"`
}

// Service is v1/Service.
type Service struct {
	Meta `yaml:",inline"`
	Spec ServiceSpec `yaml:"spec"`
}

// ServiceSpec is a Service's spec.
type ServiceSpec struct {
	Type     string            `yaml:"type,omitempty"` // "" (ClusterIP) or NodePort
	Selector map[string]string `yaml:"selector"`
	Ports    []ServicePort     `yaml:"ports"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
	NodePort   int    `yaml:"nodePort,omitempty"`
	Protocol   string `yaml:"protocol"`
}

// PodDisruptionBudget is policy/v1/PodDisruptionBudget.
type PodDisruptionBudget struct {
	Meta `yaml:",inline"`
	Spec PDBSpec `yaml:"spec"`
}

// PDBSpec is a PodDisruptionBudget's spec.
type PDBSpec struct {
	MaxUnavailable int           `yaml:"maxUnavailable"`
	Selector       LabelSelector `yaml:"selector"`
}

func (m Meta) header() Meta { return m }
