// Package telemetry holds the connector's observability parts that do not
// depend on the environment: the slog handler that stamps trace and span ids,
// the W3C traceparent helpers, the franz-go hooks (kotel tracing, produce
// latency), the pipeline metrics, and the HTTP server for /metrics, /healthz
// and /readyz with its readiness checks.
//
// Building the OpenTelemetry providers from OTEL_* variables is the job of
// cmd/connector; everything here takes providers as arguments and works with
// the no-op ones, which cost nothing.
package telemetry
