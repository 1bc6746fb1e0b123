package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeTableMatchesConfig keeps the README's configuration table in step
// with Config: the same variables, in the same order, with the same defaults.
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
	row := regexp.MustCompile("^\\| `([A-Z0-9_]+)` \\| (?:`([^`]*)`)? *\\|")
	var got []Var
	for _, line := range strings.Split(table, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			got = append(got, Var{Name: m[1], Default: m[2]})
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
	}
}
