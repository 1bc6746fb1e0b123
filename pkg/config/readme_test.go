package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeTableMatchesConfig keeps the README's configuration table in step
// with Config: the same variables, in the same order, with the same defaults
// and the same meanings as varDocs, which `connector run --help` prints.
func TestReadmeTableMatchesConfig(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- config-table:start -->")
	table, _, ok2 := strings.Cut(rest, "<!-- config-table:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no config-table markers")
	}
	row := regexp.MustCompile("^\\| `([A-Z0-9_]+)` \\| (?:`([^`]*)`)? *\\| (.*) \\|$")
	var got []Var
	for _, line := range strings.Split(table, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			got = append(got, Var{Name: m[1], Default: m[2], Doc: m[3]})
		}
	}
	want := Vars()
	if len(got) != len(want) {
		t.Errorf("README lists %d variables, Config has %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i].Name != want[i].Name || got[i].Default != want[i].Default {
			t.Errorf("row %d: README has %s=%q, Config has %s=%q", i+1, got[i].Name, got[i].Default, want[i].Name, want[i].Default)
		}
		if got[i].Doc != want[i].Doc {
			t.Errorf("row %d: README says %s is\n  %s\nvarDocs (docs.go, shown by connector run --help) says\n  %s", i+1, got[i].Name, got[i].Doc, want[i].Doc)
		}
	}
}

func TestEveryVariableHasHelp(t *testing.T) {
	for _, v := range Vars() {
		if v.Doc == "" {
			t.Errorf("%s has no entry in varDocs", v.Name)
		}
		if h := v.Help(); strings.ContainsAny(h, "`[]") && !strings.Contains(v.Doc, "[a-z") {
			t.Errorf("%s: help keeps Markdown: %q", v.Name, h)
		}
	}
	if len(varDocs) != len(Vars()) {
		t.Errorf("varDocs has %d entries for %d variables (a stale entry?)", len(varDocs), len(Vars()))
	}
	tf := Var{Doc: "a file (see [Many tenants](#many-tenants)); `XDR_BASE_URL` empty, `a\\|b`"}
	if got, want := tf.Help(), "a file (see Many tenants); XDR_BASE_URL empty, a|b"; got != want {
		t.Errorf("Help() = %q, want %q", got, want)
	}
}
