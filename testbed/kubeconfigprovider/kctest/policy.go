package kctest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgesim/edgesim/testbed/kubeconfigprovider"
)

// PolicyName names the ValidatingAdmissionPolicy (and its binding) of
// DenyPrivileged.
const PolicyName = "kctest-deny-privileged"

// denyPrivileged refuses privileged containers in the pods of namespaces
// labelled as edgesim's, as a cluster's administrator would for the
// accounts that run edgesim.
var denyPrivileged = fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: %[1]s
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["pods"]
  validations:
  - expression: >-
      object.spec.containers.all(c, !has(c.securityContext) ||
      !has(c.securityContext.privileged) || !c.securityContext.privileged)
    message: privileged containers are not allowed in edgesim's namespaces
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: %[1]s
spec:
  policyName: %[1]s
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        %[2]s: %[3]s
`, PolicyName, kubeconfigprovider.LabelManagedBy, kubeconfigprovider.ManagedBy)

// probePod is a privileged pod in namespace ns, created with a
// server-side dry run only, to see whether the policy is in force.
func probePod(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: kctest-privileged-probe
  namespace: %s
spec:
  containers:
  - name: c
    image: kctest.invalid/none
    securityContext:
      privileged: true
`, ns)
}

// DenyPrivileged makes the cluster refuse privileged containers in
// edgesim's namespaces (a ValidatingAdmissionPolicy and its binding) and
// waits until the API server enforces it, which it checks with a dry run
// in a labelled scratch namespace that it deletes again. The returned
// func removes the policy.
func DenyPrivileged(ctx context.Context, kubectlPath, kubeconfig string) (func(context.Context) error, error) {
	k := &kubeconfigprovider.Kubectl{Path: kubectlPath, Target: kubeconfigprovider.Target{Kubeconfig: kubeconfig}}
	undo := func(ctx context.Context) error {
		_, err := k.Kubectl(ctx, nil, "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", PolicyName, "--ignore-not-found", "--wait=true")
		return err
	}
	if _, err := k.Kubectl(ctx, strings.NewReader(denyPrivileged), "create", "-f", "-"); err != nil {
		return nil, err
	}
	const scratch = "kctest-policy-probe"
	if _, err := k.Kubectl(ctx, nil, "create", "namespace", scratch); err != nil {
		return undo, err
	}
	defer func() {
		_, _ = k.Kubectl(context.WithoutCancel(ctx), nil, "delete", "namespace", scratch, "--wait=true", "--timeout=60s")
	}()
	if _, err := k.Kubectl(ctx, nil, "label", "namespace", scratch, kubeconfigprovider.LabelManagedBy+"="+kubeconfigprovider.ManagedBy); err != nil {
		return undo, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := k.Kubectl(ctx, strings.NewReader(probePod(scratch)), "create", "--dry-run=server", "-f", "-")
		if err != nil && strings.Contains(err.Error(), PolicyName) {
			return undo, nil // refused by the policy: in force
		}
		if time.Now().After(deadline) {
			return undo, fmt.Errorf("the policy %s is not in force after a minute (last dry run: %v)", PolicyName, err)
		}
		select {
		case <-ctx.Done():
			return undo, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
