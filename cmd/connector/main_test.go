package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the connector once per test run, with the release flags.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "connector-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "connector")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=test-build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the connector: %v", buildErr)
	}
	return binPath
}

// proc is one run of the built binary.
type proc struct {
	cmd    *exec.Cmd
	out    *testkit.LogBuffer
	done   chan struct{}
	status int
}

func startBinary(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	// A directory of its own: what the binary keeps by default in its
	// working directory (DATA_DIR) never lands in the source tree.
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, out: &testkit.LogBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		p.status = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) signal(t *testing.T, s syscall.Signal, within time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(s)
	select {
	case <-p.done:
		return p.status
	case <-time.After(within):
		t.Fatalf("connector still running %s after %v; output:\n%s", within, s, p.out.String())
		return -1
	}
}

// runBinary runs the binary to completion with a deadline.
func runBinary(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	p := startBinary(t, env, args...)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("connector %v did not finish; output:\n%s", args, p.out.String())
	}
	return p.out.String(), p.status
}

func TestVersionAndHelp(t *testing.T) {
	out, code := runBinary(t, nil, "version")
	if code != 0 || !strings.Contains(out, "test-build") {
		t.Fatalf("version: exit %d, output %q", code, out)
	}
	for _, args := range [][]string{{"--version"}, {"-version"}} {
		if out, code := runBinary(t, nil, args...); code != 0 || out != "connector test-build\n" {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	out, code = runBinary(t, nil, "run", "--help")
	if code != 0 || !strings.Contains(out, "ENRICH_RATE_WINDOW=60s") || !strings.Contains(out, "XDR_API_KEY_FILE") {
		t.Fatalf("run --help: exit %d, output %q", code, out)
	}
	// Each variable with what it means, as the README's table says it, in
	// plain text.
	for _, v := range config.Vars() {
		first := wrap(v.Help(), 74)[0]
		if !strings.Contains(out, "\n      "+first+"\n") {
			t.Errorf("run --help does not explain %s (%q)", v.Name, first)
		}
	}
	if strings.Contains(out, "`") {
		t.Error("run --help prints Markdown backticks")
	}
	out, code = runBinary(t, nil, "help")
	if code != 0 || !strings.Contains(out, "Commands:") || !strings.Contains(out, "bench") {
		t.Errorf("help: exit %d, output %q", code, out)
	}
	out, code = runBinary(t, nil, "help", "tail")
	if code != 0 || !strings.Contains(out, "Usage: connector tail") || !strings.Contains(out, "-incident") {
		t.Errorf("help tail: exit %d, output %q", code, out)
	}
	out, code = runBinary(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(out, "unknown command") {
		t.Fatalf("unknown command: exit %d, output %q", code, out)
	}
}

// TestErrorsReadNaturally: a usage error is one "connector: ..." message,
// without the "usage:" marker, and a bad flag is reported once.
func TestErrorsReadNaturally(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"POLL_INTERVAL": "soon"}, []string{"run"}, "connector: the configuration is not valid:\n  POLL_INTERVAL: "},
		{nil, []string{"check", "--bogus"}, "connector: flag provided but not defined: -bogus (\"connector check --help\" lists the flags)\n"},
		{nil, []string{"tail"}, "connector: tail reads one TOPIC, got 0 "},
		{nil, []string{"run", "now"}, "connector: run takes no arguments"},
		{nil, []string{"-v"}, "connector: flag provided but not defined: -v (connector run has no flags: it is configured by environment variables, which \"connector run --help\" lists; \"connector --version\" prints the version)\n"},
		{map[string]string{"HTTP_ADDR": "18081"}, []string{"check"}, "✗ configuration: not valid"},
	} {
		out, code := runBinary(t, tc.env, tc.args...)
		if code != 2 || !strings.HasPrefix(out, tc.want) {
			t.Errorf("%v %v: exit %d, output %q; want exit 2 and %q", tc.env, tc.args, code, out, tc.want)
		}
		if strings.Contains(out, "usage: ") || strings.Count(out, "-bogus") > 1 {
			t.Errorf("%v %v: output %q has a \"usage:\" prefix or repeats itself", tc.env, tc.args, out)
		}
	}
}

// TestMissingKeyFileIsNamedOnce: the variable is named (its value described,
// never shown: it may be the key itself), and no line claims the
// key is missing.
func TestMissingKeyFileIsNamedOnce(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/nonexistent/key": "XDR_API_KEY_FILE: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: 16 characters, an absolute path",
		empty:              "XDR_API_KEY_FILE: " + empty + " is empty",
		// A key where its file's path belongs: named, never printed.
		"c2VjcmV0LWtleS1wYXN0ZWQtYXMtYS1wYXRo/+==": "XDR_API_KEY_FILE: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: 40 characters, no directory, which looks like a key",
	} {
		for _, cmd := range []string{"run", "check"} {
			out, code := runBinary(t, map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY_FILE": path}, cmd)
			if code != 2 || !strings.Contains(out, want) {
				t.Errorf("%s with XDR_API_KEY_FILE=%s: exit %d, want 2 and %q; output:\n%s", cmd, path, code, want, out)
			}
			if !strings.HasPrefix(path, "/") && strings.Contains(out, path[:8]) {
				t.Errorf("%s with a key in XDR_API_KEY_FILE prints it:\n%s", cmd, out)
			}
			if strings.Contains(out, "is required") || strings.Count(out, "XDR_API_KEY") != 1 {
				t.Errorf("%s with XDR_API_KEY_FILE=%s: more than the one line about the file:\n%s", cmd, path, out)
			}
		}
	}
}

func TestBadConfigurationExitsTwoNamingTheVariable(t *testing.T) {
	const key = "super-secret-api-key-value-0123456789"
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"POLL_INTERVAL": "soon"}, "POLL_INTERVAL"},
		{map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY": key}, "XDR_API_KEY_ID"},
		{map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY": key, "XDR_AUTH_MODE": "hmac"}, "XDR_AUTH_MODE"},
		{map[string]string{"ENRICH_RATE_LIMIT": "0", "XDR_API_KEY": key}, "ENRICH_RATE_LIMIT"},
		{map[string]string{"KAFKA_BROKERS": "localhost", "XDR_API_KEY": key}, "KAFKA_BROKERS"},
		{map[string]string{"START_FROM": "last tuesday"}, "START_FROM"},
		{map[string]string{"XDR_BASE_URL": "not a url", "XDR_API_KEY_ID": "7", "XDR_API_KEY": key}, "XDR_BASE_URL"},
		{map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY_FILE": "/nonexistent/key"}, "XDR_API_KEY_FILE"},
		{map[string]string{"XDR_REQUEST_TIMEOUT": "fast", "XDR_API_KEY": key}, "XDR_REQUEST_TIMEOUT"},
		{map[string]string{"DELIVERY": "at-most-once", "XDR_API_KEY": key}, "DELIVERY"},
		{map[string]string{"LOG_FORMAT": "xml", "XDR_API_KEY": key}, "LOG_FORMAT"},
		{map[string]string{"LOG_LEVEL": "loud", "XDR_API_KEY": key}, "LOG_LEVEL"},
		{map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "XDR_API_KEY": key}, "KAFKA_SASL_MECHANISM"},
		{map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_PASSWORD": key}, "KAFKA_SASL_USERNAME"},
		{map[string]string{"KAFKA_TLS_ENABLED": "perhaps", "XDR_API_KEY": key}, "KAFKA_TLS_ENABLED"},
		{map[string]string{"KAFKA_TOPIC_DLQ": "bad topic", "XDR_API_KEY": key}, "KAFKA_TOPIC_DLQ"},
		{map[string]string{"ALERTS_LIMIT": "-5", "XDR_API_KEY": key}, "ALERTS_LIMIT"},
		{map[string]string{"LOOKBACK": "-1m", "XDR_API_KEY": key}, "LOOKBACK"},
		{map[string]string{"COMMIT_INTERVAL": "0s", "XDR_API_KEY": key}, "COMMIT_INTERVAL"},
		{map[string]string{"ENRICH_WORKERS": "0", "XDR_API_KEY": key}, "ENRICH_WORKERS"},
		{map[string]string{"ENRICH_RATE_WINDOW": "a minute", "XDR_API_KEY": key}, "ENRICH_RATE_WINDOW"},
		{map[string]string{"FILTER_STARRED": "maybe", "XDR_API_KEY": key}, "FILTER_STARRED"},
		{map[string]string{"CONNECTOR_NAME": "a b", "XDR_API_KEY": key}, "CONNECTOR_NAME"},
		{map[string]string{"CONNECTOR_NAME": "R&D", "XDR_API_KEY": key}, "CONNECTOR_NAME"},
		{map[string]string{"XDR_TENANT": "acme/eu", "XDR_API_KEY": key}, "XDR_TENANT"},
		{map[string]string{"XDR_TENANT": "-acme", "XDR_API_KEY": key}, "XDR_TENANT"},
		{map[string]string{"XDR_BASE_URL": "http://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY": key}, "XDR_BASE_URL: http:// to api-x.example would send the API key in clear text"},
		{map[string]string{"HTTP_ADDR": "18081"}, "HTTP_ADDR: \"18081\" is a port without a host"},
		{map[string]string{"HTTP_ADDR": "localhost"}, "HTTP_ADDR"},
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc."}, "KAFKA_TOPIC_PREFIX"},
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc.{tenant}"}, "KAFKA_TOPIC_PREFIX"},
		{map[string]string{"XDR_ALLOW_INSECURE_HTTP": "sometimes"}, "XDR_ALLOW_INSECURE_HTTP"},
	}
	for _, tc := range cases {
		out, code := runBinary(t, tc.env, "run")
		if code != 2 {
			t.Errorf("%v: exit %d, want 2; output:\n%s", tc.env, code, out)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v: output does not name %s:\n%s", tc.env, tc.want, out)
		}
		if strings.Contains(out, key) {
			t.Errorf("%v: output leaks the API key", tc.env)
		}
	}
}

// TestFatalStartPrintsNoEmptySummary: when Kafka refuses the start, the
// error is the last word: no "Summary: 0 polls" of a pipeline that never ran,
// nor "Summary of 0 tenants" of a group that was never joined. With
// KAFKA_BROKERS the group is on by default, and its slots topic is the first
// thing the process asks Kafka for; without the group, the pipeline's topics.
func TestFatalStartPrintsNoEmptySummary(t *testing.T) {
	for _, tc := range []struct{ group, want string }{
		{"", "connector: joining the connector's group: creating slots topic"},
		{"false", "connector: creating topics:"},
	} {
		env := map[string]string{"KAFKA_BROKERS": "127.0.0.1:1", "DATA_DIR": t.TempDir()}
		if tc.group != "" {
			env["KAFKA_GROUP_ENABLED"] = tc.group
		}
		out, code := runBinary(t, env, "run")
		if code != 1 || !strings.Contains(out, tc.want) || strings.Contains(out, "Summary:") || strings.Contains(out, "Summary of") {
			t.Errorf("KAFKA_GROUP_ENABLED=%q: exit %d, output:\n%s\nwant exit 1 with %q and no summary", tc.group, code, out, tc.want)
		}
	}
}
