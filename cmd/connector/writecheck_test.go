package main

import (
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestCheckSaysWhetherTheKeyMayWrite: with write-back on, check tells a key
// whose role may edit from a read-only one, changing nothing, and lists the
// write-back topics.
func TestCheckSaysWhetherTheKeyMayWrite(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5, ReadOnly: readOnly})
		before := testkit.MaxVersion(e.Sim)
		env := checkEnv(e)
		env["WRITEBACK"] = "on"
		out, code := runBinary(t, env, "check")
		pass, fail := checkLines(out)
		switch {
		case readOnly && (code == 0 || len(fail) != 1 || !strings.Contains(fail[0], "write-back: update_incident answered 403")):
			t.Errorf("read-only key: exit %d, failed %q; output:\n%s", code, fail, out)
		case !readOnly && (code != 0 || !strings.Contains(strings.Join(pass, "\n"), "write-back: update_incident refused the invalid probe")):
			t.Errorf("key that may write: exit %d; output:\n%s", code, out)
		}
		if !strings.Contains(out, "xdr.commands") || !strings.Contains(out, "xdr.command-results") {
			t.Errorf("check does not list the write-back topics:\n%s", out)
		}
		if after := testkit.MaxVersion(e.Sim); after != before {
			t.Errorf("check changed the tenant: newest version %d -> %d", before, after)
		}
		noSecret(t, out, e.Key)
	}
}
