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
