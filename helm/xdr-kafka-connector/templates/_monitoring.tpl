{{/*
The alert rules (the spec of the PrometheusRule): files/prometheus-rules.yaml
with prometheusRule's values filled in.
*/}}
{{- define "xdr-kafka-connector.prometheusRules" -}}
{{ tpl (.Files.Get "files/prometheus-rules.yaml") . }}
{{- end }}
