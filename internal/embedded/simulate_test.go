package embedded

import (
	"slices"
	"testing"
)

func TestSimulateFleetHelpers(t *testing.T) {
	if got := fleetIDs(3); !slices.Equal(got, []string{"t1", "t2", "t3"}) {
		t.Errorf("fleetIDs(3) = %v", got)
	}
	if got := fleetIDs(100); got[0] != "t001" || got[99] != "t100" {
		t.Errorf("fleetIDs(100) = %v..%v", got[0], got[99])
	}
	for in, want := range map[string]string{
		"t01":                         "t01",
		"http://127.0.0.1:8089/t/t01": "http://127.0.0.1:8089/t/t01",
		"/abs/tenants.yaml.keys/t01":  "/abs/tenants.yaml.keys/t01",
		"/a b/c":                      `"/a b/c"`,
		`C:\keys\t1`:                  `"C:\\keys\\t1"`,
		"123":                         `"123"`,
		"true":                        `"true"`,
		"-x":                          `"-x"`,
		"a#b":                         `"a#b"`,
	} {
		if got := yamlString(in); got != want {
			t.Errorf("yamlString(%q) = %s, want %s", in, got, want)
		}
	}
	if got := shellQuote("/tmp/it's here"); got != `'/tmp/it'\''s here'` {
		t.Errorf("shellQuote = %s", got)
	}
	if got := shellQuote("/tmp/t.yaml"); got != "/tmp/t.yaml" {
		t.Errorf("shellQuote = %s", got)
	}
}
