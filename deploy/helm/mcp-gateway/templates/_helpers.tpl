{{/* Names and labels shared by the templates. */}}
{{- define "mcp-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mcp-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcp-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mcp-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mcp-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcp-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mcp-gateway.sessionSecretName" -}}
{{- default (printf "%s-session" (include "mcp-gateway.fullname" .)) .Values.sessionKey.existingSecret -}}
{{- end -}}

{{/* The gateway config: the user's, with the listeners and the session key the chart owns. */}}
{{- define "mcp-gateway.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $_ := set $c "listen" (dict "host" "0.0.0.0" "port" 8080) -}}
{{- $_ := set $c "admin" (dict "host" "0.0.0.0" "port" 9090 "drainTimeoutMs" (mul .Values.drainSeconds 1000)) -}}
{{- $sessions := default (dict) (get $c "sessions") -}}
{{- $_ := set $sessions "key" "${env:MCP_GATEWAY_SESSION_KEY}" -}}
{{- $_ := set $c "sessions" $sessions -}}
{{- if .Values.opaSidecar.enabled -}}
{{- $authz := default (dict) (get $c "authz") -}}
{{- $_ := set $authz "engine" (dict "type" "sidecar" "url" "http://127.0.0.1:8181") -}}
{{- $_ := set $c "authz" $authz -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{/* The workflows component (templates/workflows.yaml): its own app name per part, so the gateway's
     selectors (Deployment, Service, PDB, NetworkPolicy) never pick its pods. */}}
{{- define "mcp-gateway.workflows.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-%s" (include "mcp-gateway.name" .root) .part | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .part }}
{{- end -}}

{{- define "mcp-gateway.workflows.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "mcp-gateway.workflows.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "mcp-gateway.name" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "mcp-gateway.workflows.fullname" -}}
{{- printf "%s-%s" (include "mcp-gateway.fullname" .root) .part | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Temporal's address, namespace and task queue: the worker and the server must agree on all three. */}}
{{- define "mcp-gateway.workflows.temporalEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.workflows.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.workflows.temporal.namespace | quote }}
{{- with .Values.workflows.temporal.taskQueue }}
- name: WORKFLOWS_TASK_QUEUE
  value: {{ . | quote }}
{{- end }}
{{- end -}}
