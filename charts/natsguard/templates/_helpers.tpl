{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "natsguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: <release>-natsguard, or the release name when it already contains the chart name. */}}
{{- define "natsguard.fullname" -}}
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

{{/* Selector labels: stable across upgrades. */}}
{{- define "natsguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "natsguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Common labels on every object. */}}
{{- define "natsguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "natsguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: natsguard
{{- end -}}

{{/* ServiceAccount name. */}}
{{- define "natsguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "natsguard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference: digest wins over tag; the tag defaults to the chart's appVersion. */}}
{{- define "natsguard.image" -}}
{{- if .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .Values.image.digest) -}}
{{- fail (printf "image.digest must be sha256: followed by 64 lower-case hex digits (as `crane digest` prints it), got %q" .Values.image.digest) -}}
{{- end -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The RBAC rules the operator needs: least privilege, never Secrets. Shared by ClusterRole and Roles. */}}
{{- define "natsguard.rules" -}}
- apiGroups: ["natsguard.io"]
  resources: ["natstransportpolicies"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["natsguard.io"]
  resources: ["natstransportpolicies/status"]
  verbs: ["get", "patch"]
- apiGroups: ["natsguard.io"]
  resources: ["natstransportincidents"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["natsguard.io"]
  resources: ["natstransportincidents/status"]
  verbs: ["get", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* The Secret holding the webhook's serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "natsguard.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "natsguard.fullname" .) -}}
{{- end -}}

{{/* "true" when the webhook's certificate comes from cert-manager: webhook.certificate=cert-manager, or
     auto and the cert-manager.io/v1 API is present. */}}
{{- define "natsguard.webhookCertManager" -}}
{{- if eq .Values.webhook.certificate "cert-manager" -}}
true
{{- else if and (eq .Values.webhook.certificate "auto") (.Capabilities.APIVersions.Has "cert-manager.io/v1") -}}
true
{{- else -}}
false
{{- end -}}
{{- end -}}
