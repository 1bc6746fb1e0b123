package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// A secret given where its file's path belongs is never printed: the
// variable is named with the value's length and shape.
func TestSecretGivenAsItsPathIsNotPrinted(t *testing.T) {
	const key = "Zm9vYmFyYmF6cXV4/+AbCdEfGhIjKlMnOpQrStUvWxYz0123456789=="
	const password = "kafka-sasl-password-0123456789abcdef"
	for _, tc := range []struct {
		env         map[string]string
		secret, got string
	}{
		{map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY_FILE": key}, key,
			fmt.Sprintf("XDR_API_KEY_FILE: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: %d characters, no directory, which looks like a key or password rather than a path", len(key))},
		{map[string]string{"KAFKA_BROKERS": "k:9092", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u",
			"KAFKA_TLS_ENABLED": "true", "KAFKA_SASL_PASSWORD_FILE": password}, password,
			fmt.Sprintf("KAFKA_SASL_PASSWORD_FILE: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: %d characters, no directory", len(password))},
	} {
		_, err := load(tc.env)
		if err == nil {
			t.Fatalf("%v: accepted", tc.env)
		}
		if strings.Contains(err.Error(), tc.secret) || strings.Contains(err.Error(), tc.secret[:8]) {
			t.Errorf("the error prints the secret: %v", err)
		}
		if !strings.HasPrefix(err.Error(), tc.got) {
			t.Errorf("error %q\ndoes not start with %q", err, tc.got)
		}
	}

	file := "tenants:\n  - id: acme\n    base_url: https://api-acme.example\n    api_key_id: \"1\"\n    api_key_file: " + key + "\n"
	_, err := ParseTenants([]byte(file), envDefaults(t))
	if err == nil {
		t.Fatal("a tenant whose api_key_file is a key was accepted")
	}
	if strings.Contains(err.Error(), key[:8]) {
		t.Errorf("the tenants file's error prints the key: %v", err)
	}
	if want := "TENANTS_FILE: tenant acme: api_key_file: cannot be read (no such file or directory); the value is not shown"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\ndoes not start with %q", err, want)
	}
}

func TestDescribePath(t *testing.T) {
	for path, want := range map[string]string{
		"/run/secrets/xdr-api-key":             "24 characters, an absolute path",
		"./key":                                "5 characters, a relative path",
		"secrets/key.txt":                      "15 characters, a relative path",
		"key.txt":                              "7 characters, a file name in the working directory",
		"abcdefghijklmnopqrstuvwxyz0123456789": "36 characters, no directory, which looks like a key",
		"AbCd/EfGh+IjKl/MnOp=QrSt==":           "26 characters, no directory, which looks like a key",
		"":                                     "the value is empty",
	} {
		got := DescribePath(path)
		if !strings.Contains(got, want) {
			t.Errorf("DescribePath(%q) = %q, want it to contain %q", path, got, want)
		}
		if len(path) >= 4 && strings.Contains(got, path) {
			t.Errorf("DescribePath(%q) shows the value", path)
		}
	}
}

// Errors that name the path (as every *fs.PathError does, or one a reader
// wraps with it) are told without it.
func TestUnreadableFileHidesThePathInsideTheError(t *testing.T) {
	const secret = "0123456789abcdefghijklmnop"
	_, openErr := os.ReadFile(secret)
	for _, err := range []error{
		openErr,
		fmt.Errorf("reading the key file: %w", openErr),
		&fs.PathError{Op: "read", Path: secret, Err: errors.New("is a named pipe")},
		fmt.Errorf("%s is not a regular file", secret),
	} {
		got := UnreadableFile(secret, err)
		if strings.Contains(got, secret) {
			t.Errorf("UnreadableFile(%v) = %q shows the path", err, got)
		}
		if !strings.HasPrefix(got, "cannot be read (") {
			t.Errorf("UnreadableFile(%v) = %q", err, got)
		}
	}
}
