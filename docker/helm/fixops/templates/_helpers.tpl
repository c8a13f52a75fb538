{{- define "fixops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "fixops.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: web, worker, beat or migrate. */}}
{{- define "fixops.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fixops.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "fixops.secretName" -}}
{{- if .Values.existingSecret -}}
{{ .Values.existingSecret }}
{{- else -}}
{{ include "fixops.fullname" . }}
{{- end -}}
{{- end -}}

{{- define "fixops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "fixops.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* The environment every FixOps container gets: settings, then secrets. */}}
{{- define "fixops.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "fixops.fullname" . }}
  - secretRef:
      name: {{ include "fixops.secretName" . }}
{{- end -}}

{{/* The pod spec parts every FixOps pod shares: non-root, read-only root filesystem with
     writable /tmp, the shared uploads and evidence volumes. */}}
{{- define "fixops.podCommon" -}}
serviceAccountName: {{ include "fixops.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: uploads
    persistentVolumeClaim:
      claimName: {{ .Values.uploads.existingClaim | default (printf "%s-uploads" (include "fixops.fullname" .)) }}
{{- if .Values.evidence.enabled }}
  - name: evidence
    persistentVolumeClaim:
      claimName: {{ .Values.evidence.existingClaim | default (printf "%s-evidence" (include "fixops.fullname" .)) }}
{{- end }}
{{- end -}}

{{- define "fixops.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: uploads
    mountPath: /data/uploads
{{- if .Values.evidence.enabled }}
  - name: evidence
    mountPath: /data/evidence
{{- end }}
{{- end -}}
