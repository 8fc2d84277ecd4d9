{{/* Names, labels and the environment rendering shared by the templates. */}}

{{- define "k8s-auto-updater.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name, also the CronJob's name. 52 characters at most (the API server's own limit for CronJobs): the
controller names each Job "<cronjob>-<scheduled minute>" and a Job name must fit a 63-character label value.
*/}}
{{- define "k8s-auto-updater.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "k8s-auto-updater.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "k8s-auto-updater.selectorLabels" -}}
app.kubernetes.io/name: {{ include "k8s-auto-updater.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "k8s-auto-updater.labels" -}}
helm.sh/chart: {{ include "k8s-auto-updater.chart" . }}
{{ include "k8s-auto-updater.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "k8s-auto-updater.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "k8s-auto-updater.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "k8s-auto-updater.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Where existingSecret's config.json is mounted. */}}
{{- define "k8s-auto-updater.dockerConfigDir" -}}/etc/k8s-auto-updater/registry{{- end }}

{{/*
The updater options after the chart's own derivations: docker.enabled implies mode=docker and the mounted
socket; existingSecret sets dockerConfig; rbac.scope=namespaces defaults namespace to rbac.namespaces;
rbac.scope=cluster defaults to all namespaces. Returned as YAML (templates cannot return dicts).
*/}}
{{- define "k8s-auto-updater.effectiveConfig" -}}
{{- $c := deepCopy (default dict .Values.config) }}
{{- if and .Values.docker.enabled (kindIs "invalid" $c.mode) }}
{{- $_ := set $c "mode" "docker" }}
{{- end }}
{{- if and .Values.docker.enabled (kindIs "invalid" $c.dockerHost) }}
{{- $_ := set $c "dockerHost" (printf "unix://%s" .Values.docker.socketPath) }}
{{- end }}
{{- if .Values.existingSecret }}
{{- $_ := set $c "dockerConfig" (printf "%s/config.json" (include "k8s-auto-updater.dockerConfigDir" .)) }}
{{- end }}
{{- $scoped := or (not (kindIs "invalid" $c.namespace)) $c.allNamespaces (not (kindIs "invalid" $c.namespaceRegex)) }}
{{- if and (eq .Values.rbac.scope "namespaces") (not $scoped) }}
{{- $_ := set $c "namespace" .Values.rbac.namespaces }}
{{- end }}
{{- if and (eq .Values.rbac.scope "cluster") (not $scoped) }}
{{- $_ := set $c "allNamespaces" true }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* One env var per set option: AUTO_UPDATER_ + the key in upper snake case (= envName(flag) in lib/config/options.ts). */}}
{{- define "k8s-auto-updater.configEnv" -}}
{{- $c := include "k8s-auto-updater.effectiveConfig" . | fromYaml }}
{{- range $key := keys $c | sortAlpha }}
{{- $v := get $c $key }}
{{- if not (kindIs "invalid" $v) }}
{{- $name := printf "AUTO_UPDATER_%s" (regexReplaceAll "([a-z0-9])([A-Z])" $key "${1}_${2}" | upper) }}
- name: {{ $name }}
{{- if kindIs "slice" $v }}
  value: {{ join "," $v | quote }}
{{- else if or (kindIs "float64" $v) (kindIs "int64" $v) (kindIs "int" $v) }}
  value: {{ int64 $v | toString | quote }}
{{- else }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Settings that the schema cannot express; each fails the install with the fix. */}}
{{- define "k8s-auto-updater.validate" -}}
{{- $c := default dict .Values.config }}
{{- $scope := .Values.rbac.scope }}
{{- if and (eq $scope "namespaces") (empty .Values.rbac.namespaces) }}
{{- fail "rbac.scope=namespaces needs rbac.namespaces: the namespaces the updater may act in" }}
{{- end }}
{{- if and (ne $scope "cluster") (or $c.allNamespaces (not (kindIs "invalid" $c.namespaceRegex))) }}
{{- fail (printf "config.allNamespaces and config.namespaceRegex need rbac.scope=cluster (it is %s): the updater could not list pods outside its Roles" $scope) }}
{{- end }}
{{- if and (eq $scope "namespace") (not (kindIs "invalid" $c.namespace)) }}
{{- range $c.namespace }}
{{- if ne . $.Release.Namespace }}
{{- fail (printf "config.namespace has %q but rbac.scope=namespace only grants the release namespace %q: use rbac.scope=namespaces with rbac.namespaces" . $.Release.Namespace) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq $scope "namespaces") (not (kindIs "invalid" $c.namespace)) }}
{{- range $c.namespace }}
{{- if not (has . $.Values.rbac.namespaces) }}
{{- fail (printf "config.namespace has %q, which is not in rbac.namespaces" .) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.docker.enabled (kindIs "invalid" .Values.docker.socketGroup) }}
{{- fail "docker.enabled needs docker.socketGroup: the numeric group of the Docker socket on the nodes (stat -c %g /var/run/docker.sock), so the non-root updater can use it" }}
{{- end }}
{{- if and (eq (toString $c.mode) "docker") (not .Values.docker.enabled) (hasPrefix "unix://" (toString (default "unix://" $c.dockerHost))) }}
{{- fail "config.mode=docker with a unix socket needs docker.enabled=true (mounts the socket), or set config.dockerHost to a tcp:// endpoint" }}
{{- end }}
{{- if and .Values.docker.enabled (eq (toString $c.mode) "registry") }}
{{- fail "docker.enabled mounts the Docker socket but config.mode=registry would not use it: drop one" }}
{{- end }}
{{- if and .Values.existingSecret (not (kindIs "invalid" $c.dockerConfig)) }}
{{- fail "existingSecret and config.dockerConfig both name registry credentials: keep one" }}
{{- end }}
{{- end }}
