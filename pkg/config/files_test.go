//go:build unix

package config

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// loadPromptly is Load that fails the test when it does not return within
// 10 s: a reader blocked on a FIFO never returns.
func loadPromptly(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	type result struct {
		c   *Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Load(context.Background(), envconfig.MapLookuper(env))
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Load did not return: it blocks on the file")
		return nil, nil
	}
}

func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

// TestSecretFilesRefuseWhatIsNotASmallRegularFile: every secret file
// variable refuses /dev/zero, a FIFO (promptly: nothing writes to it) and a
// file larger than a key, naming the variable and why.
func TestSecretFilesRefuseWhatIsNotASmallRegularFile(t *testing.T) {
	big := writeFile(t, filepath.Join(t.TempDir(), "big"), strings.Repeat("k", MaxSecretFileBytes+1), 0o600)
	files := map[string]struct{ path, reason string }{
		"/dev/zero": {"/dev/zero", "is not a regular file (a character device)"},
		"FIFO":      {fifo(t), "is not a regular file (a FIFO)"},
		"big":       {big, "is larger than expected"},
		"directory": {t.TempDir(), "is not a regular file (a directory)"},
	}
	for name, f := range files {
		for _, v := range []string{"XDR_API_KEY_FILE", "KAFKA_SASL_PASSWORD_FILE", "HTTP_TOKEN_FILE"} {
			env := map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY": testKey,
				"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}
			switch v {
			case "XDR_API_KEY_FILE":
				delete(env, "XDR_API_KEY")
			case "KAFKA_SASL_PASSWORD_FILE":
				delete(env, "KAFKA_SASL_PASSWORD")
			}
			env[v] = f.path
			_, err := loadPromptly(t, env)
			if err == nil {
				t.Errorf("%s as %s: accepted", name, v)
				continue
			}
			if !strings.Contains(err.Error(), v+":") || !strings.Contains(err.Error(), f.reason) {
				t.Errorf("%s as %s: error %q does not name the variable and %q", name, v, err, f.reason)
			}
		}
	}
}

// TestReadRegularFileBoundsWhatItReads: the bound holds for a file whose
// reported size is below it (a file of /proc reports 0), and the errors wrap
// their reason.
func TestReadRegularFileBoundsWhatItReads(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err == nil {
		// /proc/self/maps of a Go process is well over 16 bytes, and its
		// reported size is 0.
		_, _, err := ReadRegularFile("/proc/self/maps", 16)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("/proc/self/maps with a bound of 16 bytes: err = %v, want ErrTooLarge", err)
		}
	}
	_, _, err := ReadRegularFile(fifo(t), MaxSecretFileBytes)
	var pe *fs.PathError
	if !errors.Is(err, ErrNotRegular) || !errors.As(err, &pe) {
		t.Errorf("FIFO: err = %v, want a *fs.PathError wrapping ErrNotRegular", err)
	}
	p := writeFile(t, filepath.Join(t.TempDir(), "exact"), strings.Repeat("k", MaxSecretFileBytes), 0o600)
	if b, _, err := ReadRegularFile(p, MaxSecretFileBytes); err != nil || len(b) != MaxSecretFileBytes {
		t.Errorf("a file of exactly the bound: %d bytes, %v", len(b), err)
	}
}

// TestSecretFileThroughKubernetesSymlinks: a Secret volume mounts each key as
// a symlink into ..data, itself a symlink to the current generation; the key
// is read through both.
func TestSecretFileThroughKubernetesSymlinks(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "..2026_01_01_00_00_00.1")
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(gen, "api-key"), testKey+"\n", 0o440)
	if err := os.Symlink(filepath.Base(gen), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "api-key")
	if err := os.Symlink(filepath.Join("..data", "api-key"), key); err != nil {
		t.Fatal(err)
	}
	c, err := loadPromptly(t, map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY_FILE": key})
	if err != nil {
		t.Fatal(err)
	}
	if c.XDRAPIKey.Reveal() != testKey {
		t.Error("the key read through the symlinks differs")
	}
	// 0440 with the process's own group (a pod's fsGroup): nobody else.
	if w := c.FileWarnings(); len(w) != 0 {
		t.Errorf("warnings for a 0440 file of the process's own group: %v", w)
	}
}

// TestSecretFileReadableByOthersWarns: a key file every user can read is
// accepted with a warning naming the variable (or the tenant and its key)
// and the mode, never the path or the key.
func TestSecretFileReadableByOthersWarns(t *testing.T) {
	dir := t.TempDir()
	open := writeFile(t, filepath.Join(dir, "open-key"), testKey, 0o644)
	private := writeFile(t, filepath.Join(dir, "private-key"), testKey, 0o600)
	c, err := loadPromptly(t, map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY_FILE": open,
		"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD_FILE": private})
	if err != nil {
		t.Fatal(err)
	}
	w := c.FileWarnings()
	if len(w) != 1 || w[0].Setting != "XDR_API_KEY_FILE" || !strings.Contains(w[0].Message, "every user") || !strings.Contains(w[0].Message, "0644") {
		t.Fatalf("warnings = %v, want one for XDR_API_KEY_FILE (mode 0644)", w)
	}
	if s := w[0].String(); strings.Contains(s, open) || strings.Contains(s, testKey) {
		t.Errorf("the warning %q holds the path or the key", s)
	}

	env := &Config{XDRAuthMode: "standard", XDRTimeout: time.Second, PollInterval: time.Second, StartFrom: "now",
		EnrichRateLimit: 1, EnrichRateWindow: time.Minute, EnrichWorkers: 1, AlertsLimit: 1,
		EnrichBulk: "auto", EnrichBulkSize: 100, EnrichBulkRateLimit: 10, EnrichBulkRateWindow: time.Minute}
	ts, err := ParseTenants([]byte("tenants:\n  - id: acme\n    base_url: https://api-acme.example\n    api_key_id: \"1\"\n    api_key_file: "+open+
		"\n  - id: globex\n    base_url: https://api-globex.example\n    api_key_id: \"2\"\n    api_key_file: "+private+"\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if w := ts[0].FileWarnings(); len(w) != 1 || w[0].String() != "tenant acme: api_key_file: "+w[0].Message || !strings.Contains(w[0].Message, "0644") {
		t.Errorf("tenant acme's warnings = %v", w)
	}
	if w := ts[1].FileWarnings(); len(w) != 0 {
		t.Errorf("tenant globex (0600) warnings = %v", w)
	}
}

// TestTenantsFilesRefuseWhatIsNotARegularFile: a tenant's api_key_file and
// the tenants file itself are read by the same bounded reader, promptly.
func TestTenantsFilesRefuseWhatIsNotARegularFile(t *testing.T) {
	env := &Config{XDRAuthMode: "standard", XDRTimeout: time.Second, PollInterval: time.Second, StartFrom: "now",
		EnrichRateLimit: 1, EnrichRateWindow: time.Minute, EnrichWorkers: 1, AlertsLimit: 1}
	done := make(chan error, 2)
	go func() {
		_, err := ParseTenants([]byte("tenants:\n  - id: acme\n    base_url: https://api-acme.example\n    api_key_id: \"1\"\n    api_key_file: /dev/zero\n"), env)
		done <- err
	}()
	go func() {
		_, err := LoadTenants(fifo(t), env)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
				t.Errorf("err = %v, want a refusal of a file that is not regular", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a tenants file or a key file blocked")
		}
	}
}
