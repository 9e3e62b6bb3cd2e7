{{- define "postdock.fullname" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- define "postdock.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- define "postdock.secret" -}}{{ .Values.existingSecret | default (printf "%s-secrets" (include "postdock.fullname" .)) }}{{- end -}}
{{- define "postdock.labels" -}}
app.kubernetes.io/name: postdock
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- /* "true" when the Secret holds a control-key (made from secrets.controlKey, or existingSecretControlKey) */ -}}
{{- define "postdock.hasControlKey" -}}
{{- if or (and (not .Values.existingSecret) .Values.secrets.controlKey) (and .Values.existingSecret .Values.existingSecretControlKey) }}true{{ end }}
{{- end -}}
