package main

import (
	"reflect"
	"strings"
	"testing"
)

// TestUnknownVariables: a misspelt variable of the connector is named with
// the closest known one; known ones, other programs' and Kubernetes' service
// links are left alone.
func TestUnknownVariables(t *testing.T) {
	got := unknownVariables([]string{
		"POLL_INTERVALL=5s", "POLL_INTERVAL=5s", "XDR_APIKEY=x", "KAFKA_BROKER=a:9092", "LOG_LEVL=debug",
		"XDR_SOMETHING_ELSE_ENTIRELY=1", "PATH=/bin", "OTEL_EXPORTER_OTLP_ENDPOINT=x", "HTTP_PROXY=http://p", "HTTPS_PROXY=http://p",
		"KAFKA_SERVICE_HOST=10.0.0.1", "KAFKA_SERVICE_PORT=9092", "KAFKA_PORT=tcp://10.0.0.1:9092", "KAFKA_PORT_9092_TCP_ADDR=10.0.0.1",
		"XDR_KAFKA_CONNECTOR_SERVICE_PORT_HTTP=8080",
	})
	want := []unknownVariable{
		{"POLL_INTERVALL", "POLL_INTERVAL"}, {"XDR_APIKEY", "XDR_API_KEY"}, {"KAFKA_BROKER", "KAFKA_BROKERS"}, {"LOG_LEVL", "LOG_LEVEL"},
		{"XDR_SOMETHING_ELSE_ENTIRELY", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unknownVariables:\n got %v\nwant %v", got, want)
	}
	for a, b := range map[[2]string]int{{"", "abc"}: 3, {"kitten", "sitting"}: 3, {"POLL_INTERVALL", "POLL_INTERVAL"}: 1} {
		if d := editDistance(a[0], a[1]); d != b {
			t.Errorf("editDistance(%q, %q) = %d, want %d", a[0], a[1], d, b)
		}
	}
}

// TestRunWarnsOfAMisspeltVariable: the warning reaches the log at start.
func TestRunWarnsOfAMisspeltVariable(t *testing.T) {
	out, _ := runBinary(t, map[string]string{"POLL_INTERVALL": "5s", "KAFKA_BROKERS": "127.0.0.1:1", "DATA_DIR": t.TempDir()}, "run")
	if !strings.Contains(out, `did you mean POLL_INTERVAL?" variable=POLL_INTERVALL`) {
		t.Errorf("no warning naming POLL_INTERVALL and POLL_INTERVAL:\n%s", out)
	}
}

// TestCheckWarnsOfAMisspeltVariable: check prints the warning run logs, as
// a ⚠ line that fails nothing, and also when the configuration is not
// valid (a misspelt required variable is the likely cause).
func TestCheckWarnsOfAMisspeltVariable(t *testing.T) {
	out, code := runBinary(t, map[string]string{"POLL_INTERVALL": "5s", "XDR_CONNECTOR_MODE": "x", "DATA_DIR": t.TempDir()}, "check")
	for _, want := range []string{
		"⚠ POLL_INTERVALL: not a variable the connector knows; it is ignored: did you mean POLL_INTERVAL?",
		`⚠ XDR_CONNECTOR_MODE: not a variable the connector knows; it is ignored ("connector run --help" lists the known ones)`,
		"All checks passed, with 2 warning(s)",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("check (exit %d, want 0) lacks %q:\n%s", code, want, out)
		}
	}
	out, code = runBinary(t, map[string]string{"POLL_INTERVALL": "5s", "POLL_INTERVAL": "soon"}, "check")
	if code != 2 || !strings.Contains(out, "✗ configuration") || !strings.Contains(out, "⚠ POLL_INTERVALL: not a variable the connector knows; it is ignored: did you mean POLL_INTERVAL?") {
		t.Errorf("check with a bad configuration (exit %d, want 2) does not name the misspelt variable:\n%s", code, out)
	}
}
