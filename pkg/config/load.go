package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"

	"github.com/sethvargo/go-envconfig"
	"golang.org/x/net/http/httpproxy"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Load fills a Config from l (envconfig.OsLookuper() in production), applies
// the defaults, validates it and resolves the *_FILE settings (it reads the
// secret files and checks that the other files can be read). The error, if any, joins one *FieldError per
// wrong variable — all of them, not just the first — and never carries the
// value of a secret.
func Load(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	names := fieldVars()
	hidden := map[string]bool{}
	var errs []error
	for {
		var c Config
		err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: hiding{l, hidden}})
		if err == nil {
			c.applyTopicPrefix(l)
			c.Resolve()
			c.proxy = proxyOf(l)
			if verr := c.Validate(); verr != nil {
				errs = append(errs, verr)
			}
			if ferr := c.resolveFiles(); ferr != nil {
				errs = append(errs, ferr)
			}
			if len(errs) > 0 {
				return nil, errors.Join(errs...)
			}
			return &c, nil
		}
		// go-envconfig names the Go field and stops at the first bad value:
		// record it under its variable name, hide it, and parse again.
		field, reason, _ := strings.Cut(err.Error(), ": ")
		v, ok := names[field]
		if !ok || hidden[v] {
			return nil, errors.Join(append(errs, err)...)
		}
		hidden[v] = true
		errs = append(errs, &FieldError{Var: v, Reason: "cannot be parsed: " + reason})
	}
}

// resolveFiles reads the secret files into their settings (ReadSecretFile:
// regular files of a bounded size, never a FIFO or a device; a file others
// can read is noted for FileWarnings) and checks that the CA file can be read. It runs after Validate, which has checked that a
// secret and its file are not both set.
func (c *Config) resolveFiles() error {
	var errs []error
	read := func(v, path string) (xdr.Secret, bool) {
		b, warning, err := ReadSecretFile(path)
		if err != nil {
			errs = append(errs, &FieldError{Var: v, Reason: UnreadableFile(path, err)})
			return xdr.Secret{}, false
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			errs = append(errs, &FieldError{Var: v, Reason: path + " is empty"})
			return xdr.Secret{}, false
		}
		if warning != "" {
			c.fileWarnings = append(c.fileWarnings, Warning{Setting: v, Message: warning, Insecure: true})
		}
		return xdr.NewSecret(s), true
	}
	if c.XDRBaseURL != "" && c.XDRAPIKeyFile != "" {
		if s, ok := read("XDR_API_KEY_FILE", c.XDRAPIKeyFile); ok {
			c.XDRAPIKey = s
		}
	}
	if c.KafkaSASLPasswordFile != "" {
		if s, ok := read("KAFKA_SASL_PASSWORD_FILE", c.KafkaSASLPasswordFile); ok {
			c.KafkaSASLPassword = s
		}
	}
	if c.HTTPTokenFile != "" {
		if s, ok := read("HTTP_TOKEN_FILE", c.HTTPTokenFile); ok {
			c.httpToken = s
		}
	}
	if c.KafkaTLSCAFile != "" {
		if _, err := os.Stat(c.KafkaTLSCAFile); err != nil {
			errs = append(errs, &FieldError{Var: "KAFKA_TLS_CA_FILE", Reason: fmt.Sprintf("%s cannot be read: %v", c.KafkaTLSCAFile, errors.Unwrap(err))})
		}
	}
	return errors.Join(errs...)
}

// proxyOf is the proxy choice net/http makes from the environment
// (http.ProxyFromEnvironment), read from l.
func proxyOf(l envconfig.Lookuper) func(*url.URL) (*url.URL, error) {
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := l.Lookup(n); ok && v != "" {
				return v
			}
		}
		return ""
	}
	pc := httpproxy.Config{HTTPProxy: get("HTTP_PROXY", "http_proxy"), HTTPSProxy: get("HTTPS_PROXY", "https_proxy"), NoProxy: get("NO_PROXY", "no_proxy")}
	if pc.HTTPProxy == "" && pc.HTTPSProxy == "" {
		return nil
	}
	return pc.ProxyFunc()
}

type hiding struct {
	l      envconfig.Lookuper
	hidden map[string]bool
}

func (h hiding) Lookup(key string) (string, bool) {
	if h.hidden[key] {
		return "", false
	}
	return h.l.Lookup(key)
}

// fieldVars maps each Config field name to its variable name.
func fieldVars() map[string]string {
	m := map[string]string{}
	for _, v := range Vars() {
		m[v.Field] = v.Name
	}
	return m
}

// Var describes one configuration variable.
type Var struct {
	Name    string // environment variable
	Field   string // Config field
	Default string
	Doc     string // what it means, in Markdown (the README's table)
}

var mdLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// Help is Doc as plain text, for a terminal: no backticks, links as their
// text.
func (v Var) Help() string {
	s := mdLink.ReplaceAllString(v.Doc, "$1")
	s = strings.ReplaceAll(s, "`", "")
	return strings.ReplaceAll(s, `\|`, "|")
}

// Vars lists every variable in declaration order.
func Vars() []Var {
	t := reflect.TypeFor[Config]()
	out := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		v := Var{Name: strings.TrimSpace(name), Field: f.Name}
		v.Doc = varDocs[v.Name]
		for _, o := range strings.Split(opts, ",") {
			if d, ok := strings.CutPrefix(strings.TrimSpace(o), "default="); ok {
				v.Default = d
			}
		}
		out = append(out, v)
	}
	return out
}

// ErrUsage marks an error in the command line or the configuration, which
// the binary reports with exit status 2: wrap it first,
// fmt.Errorf("%w: ...", ErrUsage, ...). Its own text, "usage", is not
// meant to be shown.
var ErrUsage = errors.New("usage")

// IndentLines puts each line of s (an error of Load or LoadTenants, one
// problem a line) on a line of its own, indented by two spaces, for a
// message that ends with a colon.
func IndentLines(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		b.WriteString("\n  " + line)
	}
	return b.String()
}
