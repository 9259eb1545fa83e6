{{- define "kubeworkz-hub.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubeworkz-hub.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubeworkz-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The image by digest when one is given (immutable), else by tag. */}}
{{- define "kubeworkz-hub.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "kubeworkz-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubeworkz-hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret of this release: the master key and/or the database URL given as values. */}}
{{- define "kubeworkz-hub.secretName" -}}
{{- include "kubeworkz-hub.fullname" . -}}
{{- end -}}

{{- define "kubeworkz-hub.masterKeySecret" -}}
{{- default (include "kubeworkz-hub.secretName" .) .Values.masterKey.existingSecret -}}
{{- end -}}

{{- define "kubeworkz-hub.masterKeyKey" -}}
{{- if .Values.masterKey.existingSecret -}}{{ .Values.masterKey.key }}{{- else -}}master.key{{- end -}}
{{- end -}}

{{- define "kubeworkz-hub.databaseSecret" -}}
{{- default (include "kubeworkz-hub.secretName" .) .Values.database.existingSecret -}}
{{- end -}}

{{- define "kubeworkz-hub.databaseKey" -}}
{{- if .Values.database.existingSecret -}}{{ .Values.database.existingSecretKey }}{{- else -}}database-url{{- end -}}
{{- end -}}

{{- define "kubeworkz-hub.sqliteClaim" -}}
{{- default (printf "%s-data" (include "kubeworkz-hub.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}
