{{- define "kubeworkz-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubeworkz-agent.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubeworkz-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubeworkz-agent.tokenSecret" -}}
{{- default (printf "%s-token" (include "kubeworkz-agent.fullname" .)) .Values.existingTokenSecret -}}
{{- end -}}

{{- define "kubeworkz-agent.credentialsSecret" -}}
{{- printf "%s-credentials" (include "kubeworkz-agent.fullname" .) -}}
{{- end -}}

{{/* The enabled operations.* switches, comma-separated (KUBEWORKZ_OPERATIONS). */}}
{{- define "kubeworkz-agent.operations" -}}
{{- $enabled := list -}}
{{- range $name := list "logs" "events" "objects" "actions" "exec" -}}
{{- if index $.Values.operations $name -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- join "," $enabled -}}
{{- end -}}

{{/*
The workload kinds collected, as KUBEWORKZ_WORKLOADS and the ClusterRole name them: the
resources whose `workloads.*` switch is on, or `none` (an empty value would mean "all" to the
agent). `group` limits the list to one API group (for the RBAC rules).
*/}}
{{- define "kubeworkz-agent.workloadResources" -}}
{{- $enabled := list -}}
{{- $kinds := list (list "statefulSets" "statefulsets" "apps") (list "daemonSets" "daemonsets" "apps") (list "replicaSets" "replicasets" "apps") (list "jobs" "jobs" "batch") (list "cronJobs" "cronjobs" "batch") -}}
{{- range $kind := $kinds -}}
{{- if and (index $.root.Values.workloads (index $kind 0)) (or (not $.group) (eq $.group (index $kind 2))) -}}
{{- $enabled = append $enabled (index $kind 1) -}}
{{- end -}}
{{- end -}}
{{- join "," $enabled -}}
{{- end -}}

{{- define "kubeworkz-agent.workloads" -}}
{{- $list := include "kubeworkz-agent.workloadResources" (dict "root" . "group" "") -}}
{{- $list | default "none" -}}
{{- end -}}

{{/*
The quota kinds collected, as KUBEWORKZ_QUOTAS and the ClusterRole name them: the resources
whose `quotas.*` switch is on, comma-separated (empty when none).
*/}}
{{- define "kubeworkz-agent.quotaResources" -}}
{{- $enabled := list -}}
{{- if .Values.quotas.resourceQuotas -}}{{- $enabled = append $enabled "resourcequotas" -}}{{- end -}}
{{- if .Values.quotas.limitRanges -}}{{- $enabled = append $enabled "limitranges" -}}{{- end -}}
{{- join "," $enabled -}}
{{- end -}}

{{- define "kubeworkz-agent.quotas" -}}
{{- include "kubeworkz-agent.quotaResources" . | default "none" -}}
{{- end -}}
