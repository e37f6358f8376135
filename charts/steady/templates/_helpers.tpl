{{/* The guard's objects share one name: its flags (--webhook-configuration, --service-name,
--cert-secret) and its RBAC resourceNames refer to it. */}}
{{- define "steady.name" -}}
steady-guard
{{- end -}}

{{- define "steady.selectorLabels" -}}
app.kubernetes.io/name: {{ include "steady.name" . }}
{{- end -}}

{{- define "steady.labels" -}}
{{ include "steady.selectorLabels" . }}
app.kubernetes.io/part-of: steady
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "steady.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
