{{/*
Least privilege for digest (registry) mode; docker mode needs nothing more from the API (the socket is the
privilege). The classified-update mode will add its rules here (patch on deployments/statefulsets/daemonsets,
get/create jobs for migrations), behind its own toggle.
*/}}
{{- define "k8s-auto-updater.rules" -}}
# Read the pods to check; watch for an evicted pod's replacement to become Ready.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Restart through the Eviction API, which honours PodDisruptionBudgets. No delete: the updater never deletes pods.
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
# One Event per restart on the workload.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# Pull secrets, to ask the registry with the pods' own credentials.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
  {{- with .Values.rbac.secretNames }}
  resourceNames:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# Service accounts, for the pull secrets they add to their pods.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
# The owner chain (pod -> ReplicaSet -> Deployment, ...) and the opt-in/opt-out annotations on workloads.
- apiGroups: [""]
  resources: [replicationcontrollers]
  verbs: [get]
- apiGroups: [apps]
  resources: [replicasets, deployments, statefulsets, daemonsets]
  verbs: [get]
{{- if .Values.rbac.podDisruptionBudgets }}
# Which PodDisruptionBudget may block an eviction, shown in the plan.
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list]
{{- end }}
{{- end }}
