package xdr_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestScrubSecretsRemovesEverySecretOfTheProcess: a value made a Secret —
// by NewSecret or by a configuration loader — is replaced in ScrubSecrets'
// text and in what a ScrubbingWriter writes, as it is and as a JSON string
// spells it; a value too short to be told from ordinary text is not.
func TestScrubSecretsRemovesEverySecretOfTheProcess(t *testing.T) {
	made := xdr.NewSecret(`sasl-Pa55w0rd"with&quote`)
	var loaded xdr.Secret
	if err := loaded.UnmarshalText([]byte("api-key-from-the-environment-0123")); err != nil {
		t.Fatal(err)
	}
	xdr.NewSecret("abc") // too short: "abc stays" below keeps it
	quoted, _ := json.Marshal(made.Reveal())
	text := "broker said: invalid credentials: connector " + made.Reveal() + "; log line " + string(quoted) +
		"; header " + loaded.Reveal() + "; abc stays"
	got := xdr.ScrubSecrets(text)
	for _, secret := range []string{made.Reveal(), string(quoted[1 : len(quoted)-1]), loaded.Reveal()} {
		if strings.Contains(got, secret) {
			t.Errorf("ScrubSecrets left %q in %q", secret, got)
		}
	}
	if !strings.Contains(got, "abc stays") || !strings.Contains(got, "broker said: invalid credentials: connector [REDACTED]") {
		t.Errorf("ScrubSecrets(%q) = %q", text, got)
	}

	var out bytes.Buffer
	w := xdr.ScrubbingWriter(&out)
	n, err := w.Write([]byte(text))
	if err != nil || n != len(text) {
		t.Fatalf("Write: %d, %v; want %d, nil", n, err, len(text))
	}
	if out.String() != got {
		t.Errorf("the writer wrote %q, ScrubSecrets gives %q", out.String(), got)
	}
}
