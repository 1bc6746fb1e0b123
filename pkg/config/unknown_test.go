package config

import (
	"reflect"
	"testing"
)

// TestUnknownVariables: a misspelt variable of the connector is named with
// the closest known one; known ones, other programs' and Kubernetes' service
// links are left alone.
func TestUnknownVariables(t *testing.T) {
	got := UnknownVariables([]string{
		"POLL_INTERVALL=5s", "POLL_INTERVAL=5s", "XDR_APIKEY=x", "KAFKA_BROKER=a:9092", "LOG_LEVL=debug",
		"XDR_SOMETHING_ELSE_ENTIRELY=1", "PATH=/bin", "OTEL_EXPORTER_OTLP_ENDPOINT=x", "HTTP_PROXY=http://p", "HTTPS_PROXY=http://p",
		"KAFKA_SERVICE_HOST=10.0.0.1", "KAFKA_SERVICE_PORT=9092", "KAFKA_PORT=tcp://10.0.0.1:9092", "KAFKA_PORT_9092_TCP_ADDR=10.0.0.1",
		"XDR_KAFKA_CONNECTOR_SERVICE_PORT_HTTP=8080",
	})
	want := []UnknownVariable{
		{"POLL_INTERVALL", "POLL_INTERVAL"}, {"XDR_APIKEY", "XDR_API_KEY"}, {"KAFKA_BROKER", "KAFKA_BROKERS"}, {"LOG_LEVL", "LOG_LEVEL"},
		{"XDR_SOMETHING_ELSE_ENTIRELY", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UnknownVariables:\n got %v\nwant %v", got, want)
	}
	for a, b := range map[[2]string]int{{"", "abc"}: 3, {"kitten", "sitting"}: 3, {"POLL_INTERVALL", "POLL_INTERVAL"}: 1} {
		if d := editDistance(a[0], a[1]); d != b {
			t.Errorf("editDistance(%q, %q) = %d, want %d", a[0], a[1], d, b)
		}
	}
}
