{{/* The base name of every object: "<release>-operator" unless overridden. */}}
{{- define "pgwarden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-operator" (.Values.nameOverride | default .Release.Name) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries; part-of=pgwarden is what `kubectl get -l` and the operator use. */}}
{{- define "pgwarden.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: pgwarden
{{ include "pgwarden.selectorLabels" . }}
{{- end -}}

{{/* Selects the operator's pods; fixed for the Deployment's life (selectors are immutable). */}}
{{- define "pgwarden.selectorLabels" -}}
app.kubernetes.io/name: pgwarden-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pgwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "pgwarden.fullname" .) -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository@digest, else repository:tag (tag default: appVersion). */}}
{{- define "pgwarden.image" -}}
{{- $image := index . 0 -}}
{{- $root := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository ($image.tag | default $root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The Service name the API server and the sidecars call, as DNS. */}}
{{- define "pgwarden.serviceHost" -}}
{{- printf "%s.%s.svc" (include "pgwarden.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "pgwarden.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "pgwarden.fullname" .) -}}
{{- end -}}

{{/* Whole seconds of a duration value such as 30s, 2m or 1h (the operator's own syntax also takes ms). */}}
{{- define "pgwarden.seconds" -}}
{{- $d := toString . -}}
{{- if hasSuffix "ms" $d -}}{{- div (trimSuffix "ms" $d | atoi) 1000 -}}
{{- else if hasSuffix "s" $d -}}{{- trimSuffix "s" $d | atoi -}}
{{- else if hasSuffix "m" $d -}}{{- mul (trimSuffix "m" $d | atoi) 60 -}}
{{- else if hasSuffix "h" $d -}}{{- mul (trimSuffix "h" $d | atoi) 3600 -}}
{{- else -}}{{- fail (printf "%q is not a duration such as 30s, 2m or 1h" $d) -}}
{{- end -}}
{{- end -}}

{{/* cert-manager's cainjector fills in caBundle from the Certificate (certMode certManager). */}}
{{- define "pgwarden.webhookAnnotations" -}}
{{- if eq .Values.webhook.certMode "certManager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "pgwarden.fullname" . }}-webhook
{{- end -}}
{{- end -}}


{{/* The approvers' ClusterRole: "pgwarden-approver" for a release named pgwarden, as the docs name it. */}}
{{- define "pgwarden.approverRole" -}}
{{- printf "%s-approver" (.Values.nameOverride | default .Release.Name) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
