package main

import (
	"strings"
	"testing"
)

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
