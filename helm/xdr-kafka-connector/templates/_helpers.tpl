{{/*
Names and labels.
*/}}
{{- define "xdr-kafka-connector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "xdr-kafka-connector.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "xdr-kafka-connector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels shared by every object and every pod of the release. */}}
{{- define "xdr-kafka-connector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "xdr-kafka-connector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "xdr-kafka-connector.labels" -}}
helm.sh/chart: {{ include "xdr-kafka-connector.chart" . }}
{{ include "xdr-kafka-connector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the connector pods only (not the `helm test` pod). */}}
{{- define "xdr-kafka-connector.connectorSelectorLabels" -}}
{{ include "xdr-kafka-connector.selectorLabels" . }}
app.kubernetes.io/component: connector
{{- end }}

{{- define "xdr-kafka-connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "xdr-kafka-connector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "xdr-kafka-connector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Secrets. The chart-managed Secret (named like the release) uses fixed keys;
existing Secrets use the key names given in values.
*/}}
{{- define "xdr-kafka-connector.xdrSecretName" -}}
{{- default (include "xdr-kafka-connector.fullname" .) .Values.xdr.existingSecret }}
{{- end }}

{{- define "xdr-kafka-connector.xdrApiKeyKey" -}}
{{- if .Values.xdr.existingSecret }}{{ .Values.xdr.apiKeyKey }}{{ else }}xdr-api-key{{ end }}
{{- end }}

{{- define "xdr-kafka-connector.xdrApiKeyIdKey" -}}
{{- if .Values.xdr.existingSecret }}{{ .Values.xdr.apiKeyIdKey }}{{ else }}xdr-api-key-id{{ end }}
{{- end }}

{{- define "xdr-kafka-connector.saslEnabled" -}}
{{- if .Values.kafka.sasl.mechanism }}true{{ end }}
{{- end }}

{{- define "xdr-kafka-connector.saslSecretName" -}}
{{- default (include "xdr-kafka-connector.fullname" .) .Values.kafka.sasl.existingSecret }}
{{- end }}

{{- define "xdr-kafka-connector.saslPasswordKey" -}}
{{- if .Values.kafka.sasl.existingSecret }}{{ .Values.kafka.sasl.passwordKey }}{{ else }}kafka-sasl-password{{ end }}
{{- end }}

{{/* Non-empty when the chart stores the single-tenant API key in its Secret. */}}
{{- define "xdr-kafka-connector.createXdrSecret" -}}
{{- if and (not (include "xdr-kafka-connector.multiTenant" .)) (not .Values.xdr.existingSecret) }}true{{ end }}
{{- end }}

{{/* Non-empty when the chart must create its own Secret. */}}
{{- define "xdr-kafka-connector.createSecret" -}}
{{- include "xdr-kafka-connector.createXdrSecret" . }}
{{- if and (include "xdr-kafka-connector.saslEnabled" .) (not .Values.kafka.sasl.existingSecret) }}true{{ end }}
{{- end }}

{{/* Non-empty when a CA bundle is mounted. */}}
{{- define "xdr-kafka-connector.caEnabled" -}}
{{- $ca := .Values.kafka.tls.ca }}
{{- if and .Values.kafka.tls.enabled (or $ca.existingSecret $ca.existingConfigMap $ca.pem) }}true{{ end }}
{{- end }}

{{/* Non-empty when the chart creates the CA ConfigMap from kafka.tls.ca.pem. */}}
{{- define "xdr-kafka-connector.caConfigMap" -}}
{{- $ca := .Values.kafka.tls.ca }}
{{- if and (include "xdr-kafka-connector.caEnabled" .) (not $ca.existingSecret) (not $ca.existingConfigMap) }}true{{ end }}
{{- end }}

{{- define "xdr-kafka-connector.caConfigMapName" -}}
{{- printf "%s-kafka-ca" (include "xdr-kafka-connector.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Multi-tenant mode: non-empty when .Values.tenants lists any tenant. The
connector then runs every tenant of the file named by TENANTS_FILE (and
refuses XDR_BASE_URL beside it), so the single tenant's XDR_* are not rendered.
*/}}
{{- define "xdr-kafka-connector.multiTenant" -}}
{{- if .Values.tenants }}true{{ end }}
{{- end }}

{{- define "xdr-kafka-connector.tenantsConfigMapName" -}}
{{- printf "%s-tenants" (include "xdr-kafka-connector.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding a tenant's key (called with a tenant), and the key in it. */}}
{{- define "xdr-kafka-connector.tenantSecretName" -}}
{{- default .root.Values.tenantsSecret.existingSecret .tenant.existingSecret }}
{{- end }}

{{- define "xdr-kafka-connector.tenantSecretKey" -}}
{{- if .tenant.existingSecret }}api-key{{ else }}{{ .tenant.id }}{{ end }}
{{- end }}

{{/*
Checks what the schema cannot (unique ids), and again what it does (a key
source per tenant) in case schema validation is skipped.
*/}}
{{- define "xdr-kafka-connector.validateTenants" -}}
{{- $seen := dict }}
{{- range $i, $t := .Values.tenants }}
{{- $id := required (printf "tenants[%d]: id is required" $i) $t.id | toString }}
{{- if hasKey $seen $id }}
{{- fail (printf "tenants[%d]: duplicate tenant id %q (also tenants[%d]); each tenant needs its own id" $i $id (get $seen $id)) }}
{{- end }}
{{- $_ := set $seen $id $i }}
{{- if not (include "xdr-kafka-connector.tenantSecretName" (dict "root" $ "tenant" $t)) }}
{{- fail (printf "tenants[%d] (%s): no source for its API key: set tenants[%d].existingSecret (a Secret with key api-key) or tenantsSecret.existingSecret (a Secret with key %s)" $i $id $i $id) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The per-tenant keys of the tenants file that a tenant's overrides may set, in
the order they are written.
*/}}
{{- define "xdr-kafka-connector.tenantOverrideKeys" -}}
poll_interval lookback start_from enrich_rate_limit enrich_rate_window enrich_workers alerts_limit enrich_bulk enrich_bulk_size enrich_bulk_rate_limit enrich_bulk_rate_window filter_statuses filter_starred filter_alert_sources request_timeout disabled writeback
{{- end }}

{{/*
tenants.yaml, the file TENANTS_FILE names. It has no defaults section: every
per-tenant setting a tenant does not override comes from the environment
(pipeline.*, xdr.requestTimeout), as in single-tenant mode. Keys are never in
the file: each tenant's api_key_file is a mounted Secret key.
*/}}
{{- define "xdr-kafka-connector.tenantsFile" -}}
{{- include "xdr-kafka-connector.validateTenants" . }}
{{- $v := .Values -}}
tenants:
{{- range $t := $v.tenants }}
{{- $id := toString $t.id }}
{{- $keyId := $t.apiKeyId }}
{{- if kindIs "float64" $keyId }}{{ $keyId = $keyId | int64 }}{{ end }}
  - id: {{ $id | quote }}
    base_url: {{ $t.baseUrl | quote }}
    api_key_id: {{ $keyId | toString | quote }}
    api_key_file: {{ printf "%s/%s/api-key" (include "xdr-kafka-connector.tenantKeyDir" $) $id | quote }}
    auth_mode: {{ default "standard" $t.authMode | quote }}
    {{- $o := default dict $t.overrides }}
    {{- range $k := splitList " " (include "xdr-kafka-connector.tenantOverrideKeys" $) }}
    {{- if hasKey $o $k }}
    {{- $val := get $o $k }}
    {{- if kindIs "float64" $val }}{{ $val = $val | int64 }}{{ end }}
    {{ $k }}: {{ toJson $val }}
    {{- end }}
    {{- end }}
{{- end }}
{{- end }}

{{/* Where the secret files appear inside the container. */}}
{{- define "xdr-kafka-connector.xdrKeyDir" -}}/etc/xdr-connector/xdr{{- end }}
{{- define "xdr-kafka-connector.saslDir" -}}/etc/xdr-connector/kafka-sasl{{- end }}
{{- define "xdr-kafka-connector.caDir" -}}/etc/xdr-connector/kafka-ca{{- end }}
{{- define "xdr-kafka-connector.tenantsDir" -}}/etc/xdr-connector/tenants{{- end }}
{{- define "xdr-kafka-connector.tenantKeyDir" -}}/run/secrets/tenants{{- end }}
{{- define "xdr-kafka-connector.httpTokenDir" -}}/etc/xdr-connector/http-token{{- end }}

{{/*
The environment of `connector run` (and of `connector check` in the test pod).
Names are the env tags of pkg/config.Config. Optional strings are rendered only
when set, because an empty variable would override the binary's default.
*/}}
{{- define "xdr-kafka-connector.env" -}}
{{- $v := .Values -}}
{{- with $v.goMemLimit }}
- name: GOMEMLIMIT
  value: {{ . | quote }}
{{- end }}
{{- if include "xdr-kafka-connector.multiTenant" . }}
- name: TENANTS_FILE
  value: {{ include "xdr-kafka-connector.tenantsDir" . }}/tenants.yaml
{{- else }}
- name: XDR_BASE_URL
  value: {{ $v.xdr.baseUrl | quote }}
- name: XDR_API_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "xdr-kafka-connector.xdrSecretName" . }}
      key: {{ include "xdr-kafka-connector.xdrApiKeyIdKey" . }}
- name: XDR_API_KEY_FILE
  value: {{ include "xdr-kafka-connector.xdrKeyDir" . }}/api-key
- name: XDR_AUTH_MODE
  value: {{ $v.xdr.authMode | quote }}
{{- end }}
- name: XDR_REQUEST_TIMEOUT
  value: {{ $v.xdr.requestTimeout | quote }}
- name: XDR_MAX_RETRY_AFTER
  value: {{ $v.xdr.maxRetryAfter | quote }}
- name: XDR_REQUESTS_PER_SECOND
  value: {{ $v.xdr.requestsPerSecond | int64 | quote }}
- name: XDR_REPLY_BUDGET_BYTES
  value: {{ $v.xdr.replyBudgetBytes | int64 | quote }}
{{- if not (include "xdr-kafka-connector.multiTenant" .) }}
{{- with $v.xdr.tenant }}
- name: XDR_TENANT
  value: {{ . | quote }}
{{- end }}
{{- end }}
- name: KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
{{- if include "xdr-kafka-connector.saslEnabled" . }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ $v.kafka.sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD_FILE
  value: {{ include "xdr-kafka-connector.saslDir" . }}/password
{{- end }}
- name: KAFKA_TLS_ENABLED
  value: {{ $v.kafka.tls.enabled | quote }}
- name: KAFKA_TLS_INSECURE_SKIP_VERIFY
  value: {{ $v.kafka.tls.insecureSkipVerify | quote }}
{{- if include "xdr-kafka-connector.caEnabled" . }}
- name: KAFKA_TLS_CA_FILE
  value: {{ include "xdr-kafka-connector.caDir" . }}/ca.crt
{{- end }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ $v.kafka.replicationFactor | int64 | quote }}
- name: KAFKA_PARTITIONS
  value: {{ $v.kafka.partitions | int64 | quote }}
- name: KAFKA_MAX_RECORD_BYTES
  value: {{ $v.kafka.maxRecordBytes | int64 | quote }}
- name: KAFKA_COMPRESSION
  value: {{ $v.kafka.compression | quote }}
- name: KAFKA_TOPIC_INCIDENTS
  value: {{ $v.topics.incidents | quote }}
- name: KAFKA_TOPIC_ALERTS
  value: {{ $v.topics.alerts | quote }}
- name: KAFKA_TOPIC_ARTIFACTS
  value: {{ $v.topics.artifacts | quote }}
- name: KAFKA_TOPIC_DLQ
  value: {{ $v.topics.dlq | quote }}
- name: KAFKA_TOPIC_OFFSETS
  value: {{ $v.topics.offsets | quote }}
- name: KAFKA_GROUP_ENABLED
  value: {{ $v.scaleOut.enabled | quote }}
{{- if and $v.scaleOut.enabled $v.scaleOut.staticMembership }}
- name: KAFKA_GROUP_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
- name: KAFKA_GROUP_SESSION_TIMEOUT
  value: {{ $v.scaleOut.sessionTimeout | quote }}
- name: KAFKA_GROUP_REBALANCE_TIMEOUT
  value: {{ $v.scaleOut.rebalanceTimeout | quote }}
- name: KAFKA_GROUP_HEARTBEAT_INTERVAL
  value: {{ $v.scaleOut.heartbeatInterval | quote }}
- name: KAFKA_TOPIC_SLOTS
  value: {{ $v.topics.slots | quote }}
- name: KAFKA_SLOTS_PARTITIONS
  value: {{ $v.scaleOut.slotsPartitions | int64 | quote }}
- name: CONNECTOR_NAME
  value: {{ $v.pipeline.connectorName | quote }}
- name: POLL_INTERVAL
  value: {{ $v.pipeline.pollInterval | quote }}
- name: LOOKBACK
  value: {{ $v.pipeline.lookback | quote }}
- name: START_FROM
  value: {{ $v.pipeline.startFrom | quote }}
{{- with $v.pipeline.filterStatuses }}
- name: FILTER_STATUSES
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.pipeline.filterStarred }}
- name: FILTER_STARRED
  value: {{ . | quote }}
{{- end }}
{{- with $v.pipeline.filterAlertSources }}
- name: FILTER_ALERT_SOURCES
  value: {{ join "," . | quote }}
{{- end }}
- name: ENRICH_RATE_LIMIT
  value: {{ $v.pipeline.enrichRateLimit | int64 | quote }}
- name: ENRICH_RATE_WINDOW
  value: {{ $v.pipeline.enrichRateWindow | quote }}
- name: ENRICH_WORKERS
  value: {{ $v.pipeline.enrichWorkers | int64 | quote }}
- name: ENRICH_MAX_ATTEMPTS
  value: {{ $v.pipeline.enrichMaxAttempts | int64 | quote }}
- name: ALERTS_LIMIT
  value: {{ $v.pipeline.alertsLimit | int64 | quote }}
- name: ENRICH_BULK
  value: {{ $v.pipeline.enrichBulk | quote }}
- name: ENRICH_BULK_SIZE
  value: {{ $v.pipeline.enrichBulkSize | int64 | quote }}
- name: ENRICH_BULK_RATE_LIMIT
  value: {{ $v.pipeline.enrichBulkRateLimit | int64 | quote }}
- name: ENRICH_BULK_RATE_WINDOW
  value: {{ $v.pipeline.enrichBulkRateWindow | quote }}
- name: COMMIT_INTERVAL
  value: {{ $v.pipeline.commitInterval | quote }}
- name: SHUTDOWN_TIMEOUT
  value: {{ $v.pipeline.shutdownTimeout | quote }}
- name: DELIVERY
  value: {{ $v.pipeline.delivery | quote }}
- name: OUTPUT_PROFILES
  value: {{ join "," $v.pipeline.outputProfiles | quote }}
- name: KAFKA_TOPIC_OCSF_INCIDENTS
  value: {{ $v.topics.ocsfIncidents | quote }}
- name: KAFKA_TOPIC_OCSF_ALERTS
  value: {{ $v.topics.ocsfAlerts | quote }}
- name: KAFKA_TOPIC_ECS_INCIDENTS
  value: {{ $v.topics.ecsIncidents | quote }}
- name: KAFKA_TOPIC_ECS_ALERTS
  value: {{ $v.topics.ecsAlerts | quote }}
- name: WRITEBACK
  value: {{ ternary "on" "off" $v.writeback.enabled | quote }}
{{- with $v.writeback.actions }}
- name: WRITEBACK_ACTIONS
  value: {{ join "," . | quote }}
{{- end }}
- name: KAFKA_TOPIC_COMMANDS
  value: {{ $v.topics.commands | quote }}
- name: KAFKA_TOPIC_COMMAND_RESULTS
  value: {{ $v.topics.commandResults | quote }}
- name: LOG_LEVEL
  value: {{ $v.log.level | quote }}
- name: LOG_FORMAT
  value: {{ $v.log.format | quote }}
- name: HTTP_ADDR
  value: {{ printf ":%d" ($v.metrics.port | int64) | quote }}
- name: HTTP_TENANTS_ENABLED
  value: {{ $v.metrics.tenantsEndpoint | quote }}
{{- if $v.metrics.tokenSecret.name }}
- name: HTTP_TOKEN_FILE
  value: {{ include "xdr-kafka-connector.httpTokenDir" . }}/token
{{- end }}
- name: DATA_DIR
  value: /tmp/xdr-connector
{{- with $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $v.otel.protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- if $v.otel.insecure }}
- name: OTEL_EXPORTER_OTLP_INSECURE
  value: "true"
{{- end }}
{{- with $v.otel.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.otel.headersSecret.key }}
{{- end }}
{{- with $v.otel.serviceName }}
- name: OTEL_SERVICE_NAME
  value: {{ . | quote }}
{{- end }}
{{- with $v.otel.resourceAttributes }}
{{- $attrs := list }}
{{- range $k, $val := . }}
{{- $attrs = append $attrs (printf "%s=%v" $k $val) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- end }}
{{- with $v.otel.tracesExporter }}
- name: OTEL_TRACES_EXPORTER
  value: {{ . | quote }}
{{- end }}
{{- with $v.otel.tracesSampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with $v.otel.tracesSamplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volume mounts shared by the connector and the test pod. */}}
{{- define "xdr-kafka-connector.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "xdr-kafka-connector.multiTenant" . }}
- name: tenants
  mountPath: {{ include "xdr-kafka-connector.tenantsDir" . }}
  readOnly: true
- name: tenant-api-keys
  mountPath: {{ include "xdr-kafka-connector.tenantKeyDir" . }}
  readOnly: true
{{- else }}
- name: xdr-api-key
  mountPath: {{ include "xdr-kafka-connector.xdrKeyDir" . }}
  readOnly: true
{{- end }}
{{- if include "xdr-kafka-connector.saslEnabled" . }}
- name: kafka-sasl-password
  mountPath: {{ include "xdr-kafka-connector.saslDir" . }}
  readOnly: true
{{- end }}
{{- if include "xdr-kafka-connector.caEnabled" . }}
- name: kafka-ca
  mountPath: {{ include "xdr-kafka-connector.caDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.metrics.tokenSecret.name }}
- name: http-token
  mountPath: {{ include "xdr-kafka-connector.httpTokenDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Volumes shared by the connector and the test pod. Each Secret volume projects
only the one key the connector needs, readable by the pod's fsGroup (0440).
In multi-tenant mode one projected volume holds every tenant's key, each at
<id>/api-key.
*/}}
{{- define "xdr-kafka-connector.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if include "xdr-kafka-connector.multiTenant" . }}
- name: tenants
  configMap:
    name: {{ include "xdr-kafka-connector.tenantsConfigMapName" . }}
    defaultMode: 0444
    items:
      - key: tenants.yaml
        path: tenants.yaml
- name: tenant-api-keys
  projected:
    defaultMode: 0440
    sources:
      {{- range $t := .Values.tenants }}
      {{- $ctx := dict "root" $ "tenant" $t }}
      - secret:
          name: {{ include "xdr-kafka-connector.tenantSecretName" $ctx | quote }}
          items:
            - key: {{ include "xdr-kafka-connector.tenantSecretKey" $ctx | quote }}
              path: {{ printf "%s/api-key" (toString $t.id) | quote }}
      {{- end }}
{{- else }}
- name: xdr-api-key
  secret:
    secretName: {{ include "xdr-kafka-connector.xdrSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ include "xdr-kafka-connector.xdrApiKeyKey" . }}
        path: api-key
{{- end }}
{{- if include "xdr-kafka-connector.saslEnabled" . }}
- name: kafka-sasl-password
  secret:
    secretName: {{ include "xdr-kafka-connector.saslSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ include "xdr-kafka-connector.saslPasswordKey" . }}
        path: password
{{- end }}
{{- if include "xdr-kafka-connector.caEnabled" . }}
{{- $ca := .Values.kafka.tls.ca }}
- name: kafka-ca
{{- if $ca.existingSecret }}
  secret:
    secretName: {{ $ca.existingSecret }}
    defaultMode: 0444
    items:
      - key: {{ $ca.key }}
        path: ca.crt
{{- else if $ca.existingConfigMap }}
  configMap:
    name: {{ $ca.existingConfigMap }}
    defaultMode: 0444
    items:
      - key: {{ $ca.key }}
        path: ca.crt
{{- else }}
  configMap:
    name: {{ include "xdr-kafka-connector.caConfigMapName" . }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- with .Values.metrics.tokenSecret }}
{{- if .name }}
- name: http-token
  secret:
    secretName: {{ .name }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: token
{{- end }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the connector and the test pod. */}}
{{- define "xdr-kafka-connector.podSpecCommon" -}}
serviceAccountName: {{ include "xdr-kafka-connector.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
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
{{- end }}

{{/*
seconds is a duration value in whole seconds when it is written in s, m or h
alone (20s, 2m, 1h); "" otherwise, and a check that needs it is skipped.
*/}}
{{- define "xdr-kafka-connector.seconds" -}}
{{- $d := toString . -}}
{{- if regexMatch "^[0-9]+s$" $d -}}{{ trimSuffix "s" $d }}
{{- else if regexMatch "^[0-9]+m$" $d -}}{{ mul (trimSuffix "m" $d | int64) 60 }}
{{- else if regexMatch "^[0-9]+h$" $d -}}{{ mul (trimSuffix "h" $d | int64) 3600 }}
{{- end -}}
{{- end }}

{{/*
validateScaleOut refuses a grace period that does not cover the drain and the
leave of a stopping pod, and a rebalance timeout that does not cover a drain.
*/}}
{{- define "xdr-kafka-connector.validateScaleOut" -}}
{{- if .Values.scaleOut.enabled }}
{{- $drain := include "xdr-kafka-connector.seconds" .Values.pipeline.shutdownTimeout }}
{{- if and $drain (le (int64 .Values.terminationGracePeriodSeconds) (add (int64 $drain) 5)) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed pipeline.shutdownTimeout (%s) by more than 5 s with scaleOut: a stopping pod drains, commits, then leaves the group" (int64 .Values.terminationGracePeriodSeconds) .Values.pipeline.shutdownTimeout) }}
{{- end }}
{{- $rebalance := include "xdr-kafka-connector.seconds" .Values.scaleOut.rebalanceTimeout }}
{{- $beat := include "xdr-kafka-connector.seconds" .Values.scaleOut.heartbeatInterval }}
{{- if and $drain $rebalance (le (int64 $rebalance) (add (int64 $drain) (int64 (default "0" $beat)))) }}
{{- fail (printf "scaleOut.rebalanceTimeout (%s) must exceed pipeline.shutdownTimeout (%s) plus scaleOut.heartbeatInterval (%s): a revoked tenant drains and commits within it, a heartbeat before the rebalance ends" .Values.scaleOut.rebalanceTimeout .Values.pipeline.shutdownTimeout .Values.scaleOut.heartbeatInterval) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
validateXDR refuses, naming the fix, the xdr settings that contradict the
mode: with tenants, each tenant's baseUrl, apiKeyId and key replace
xdr.baseUrl, the xdr API key and xdr.tenant; in single-tenant mode,
xdr.existingSecret replaces xdr.apiKey and xdr.apiKeyId.
*/}}
{{- define "xdr-kafka-connector.validateXDR" -}}
{{- $x := .Values.xdr }}
{{- if .Values.tenants }}
{{- $set := list }}
{{- range $k := list "baseUrl" "apiKey" "apiKeyId" "existingSecret" "tenant" }}
{{- if not (empty (get $x $k)) }}{{ $set = append $set (printf "xdr.%s" $k) }}{{ end }}
{{- end }}
{{- if $set }}
{{- fail (printf "%s set together with tenants: with tenants, each tenant's baseUrl, apiKeyId and key (tenants[].existingSecret or tenantsSecret.existingSecret) replace xdr.baseUrl, xdr.apiKey, xdr.apiKeyId, xdr.existingSecret and xdr.tenant (the tenant's id names it). Unset %s (move a base URL into its tenant's tenants[].baseUrl), or remove tenants for one tenant configured by xdr.*" (join ", " $set) (join ", " $set)) }}
{{- end }}
{{- else if $x.existingSecret }}
{{- $set := list }}
{{- range $k := list "apiKey" "apiKeyId" }}
{{- if not (empty (get $x $k)) }}{{ $set = append $set (printf "xdr.%s" $k) }}{{ end }}
{{- end }}
{{- if $set }}
{{- fail (printf "xdr.existingSecret (%s) and %s are both set: the Secret holds the API key and its id (under xdr.apiKeyKey %q and xdr.apiKeyIdKey %q). Unset %s, or unset xdr.existingSecret to let the chart create a Secret from xdr.apiKey and xdr.apiKeyId" $x.existingSecret (join ", " $set) $x.apiKeyKey $x.apiKeyIdKey (join ", " $set)) }}
{{- end }}
{{- end }}
{{- end }}
