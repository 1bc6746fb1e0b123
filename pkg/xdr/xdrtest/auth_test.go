package xdrtest_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

var page = map[string]any{"search_from": 0, "search_to": 1}

func TestStandardKey(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 3})
	tests := []struct {
		name string
		opts []reqOption
		want int
	}{
		{"valid", nil, http.StatusOK},
		{"wrong key", []reqOption{withHeader("Authorization", strings.Repeat("x", 64))}, http.StatusUnauthorized},
		{"unknown key id", []reqOption{withHeader("x-xdr-auth-id", "2")}, http.StatusUnauthorized},
		{"no key id", []reqOption{withoutHeader("x-xdr-auth-id")}, http.StatusUnauthorized},
		{"no key", []reqOption{withoutHeader("Authorization")}, http.StatusUnauthorized},
		{"the advanced key sent unsigned", []reqOption{withHeader("Authorization", xdrtest.DefaultAdvancedKey),
			withHeader("x-xdr-auth-id", xdrtest.DefaultAdvancedKeyID)}, http.StatusUnauthorized},
		{"the standard key under the advanced key's id", []reqOption{withHeader("x-xdr-auth-id", xdrtest.DefaultAdvancedKeyID)}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range []string{"get_incidents", "get_incident_extra_data"} {
				rd := any(page)
				if ep == "get_incident_extra_data" {
					rd = map[string]any{"incident_id": tn.IncidentIDs()[0]}
				}
				r := call(t, tn, ep, rd, tc.opts...)
				if r.status != tc.want {
					t.Fatalf("%s: status %d, want %d: %s", ep, r.status, tc.want, r.body)
				}
				if tc.want == http.StatusUnauthorized {
					if code := r.errCode(t); code != "401" {
						t.Errorf("%s: err_code %q, want 401", ep, code)
					}
					if bytes.Contains(r.body, []byte(xdrtest.DefaultKey)) {
						t.Errorf("%s: 401 body reveals the key", ep)
					}
				}
			}
		})
	}
}

func TestStandardAndAdvancedKeysAreDistinct(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 1})
	sid, skey := tn.Credentials()
	aid, akey := tn.AdvancedCredentials()
	if sid == aid || skey == akey {
		t.Fatalf("standard %s and advanced %s share an id or a key", sid, aid)
	}
	if id, key := tn.CredentialsFor("advanced"); id != aid || key != akey {
		t.Error("CredentialsFor(advanced) is not the advanced key")
	}
	if id, key := tn.CredentialsFor("standard"); id != sid || key != skey {
		t.Error("CredentialsFor(standard) is not the standard key")
	}
	f := xdrtest.NewFleet([]string{"a", "b"}, nil)
	for _, id := range f.IDs() {
		sid, skey := f.Tenant(id).Credentials()
		aid, akey := f.Tenant(id).AdvancedCredentials()
		if sid == aid || skey == akey {
			t.Errorf("fleet tenant %s: standard %s and advanced %s share an id or a key", id, sid, aid)
		}
	}
}

func TestCustomCredentials(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 1, KeyID: "77", Key: "k3y"})
	if id, key := tn.Credentials(); id != "77" || key != "k3y" {
		t.Fatalf("Credentials() = %q, %q", id, key)
	}
	if r := call(t, tn, "get_incidents", page); r.status != http.StatusUnauthorized {
		t.Fatalf("default credentials accepted by a tenant with custom ones: %d", r.status)
	}
	r := call(t, tn, "get_incidents", page, withHeader("Authorization", "k3y"), withHeader("x-xdr-auth-id", "77"))
	if r.status != http.StatusOK {
		t.Fatalf("custom credentials refused: %d %s", r.status, r.body)
	}
}

func TestAdvancedKey(t *testing.T) {
	base := strings.Repeat("aB3dE5gH7jK9mN1p", 4)[:60]
	nonce := func(i int) string { return base + strings.Repeat(string(rune('a'+i%26)), 4) }
	tn, clk := newTenant(xdrtest.Config{Incidents: 3, MaxSkew: 5 * time.Minute})
	now := clk.Now().UnixMilli()
	skew := (5 * time.Minute).Milliseconds()

	tests := []struct {
		name string
		opts []reqOption
		want int
	}{
		{"valid", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(0), now)}, 200},
		{"reused nonce", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(0), now)}, 401},
		{"oldest accepted timestamp", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(1), now-skew)}, 200},
		{"newest accepted timestamp", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(2), now+skew)}, 200},
		{"stale timestamp", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(3), now-skew-1)}, 401},
		{"future timestamp", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(4), now+skew+1)}, 401},
		{"timestamp in seconds", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(5), now/1000)}, 401},
		{"signed with another key", []reqOption{advanced("not-the-key", nonce(6), now)}, 401},
		{"signature over another nonce", []reqOption{
			advanced(xdrtest.DefaultAdvancedKey, nonce(7), now), withHeader("x-xdr-nonce", nonce(8))}, 401},
		{"short nonce", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(9)[:63], now)}, 401},
		{"nonce with symbol", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(10)[:63]+"-", now)}, 401},
		{"non-numeric timestamp", []reqOption{
			advanced(xdrtest.DefaultAdvancedKey, nonce(11), now), withHeader("x-xdr-timestamp", "yesterday")}, 401},
		{"unknown key id", []reqOption{advanced(xdrtest.DefaultAdvancedKey, nonce(12), now), withHeader("x-xdr-auth-id", "9")}, 401},
		{"plain key sent as advanced", []reqOption{
			advanced(xdrtest.DefaultAdvancedKey, nonce(13), now), withHeader("Authorization", xdrtest.DefaultAdvancedKey)}, 401},
		{"the standard key signed", []reqOption{advanced(xdrtest.DefaultKey, nonce(16), now), withHeader("x-xdr-auth-id", xdrtest.DefaultKeyID)}, 401},
		{"the advanced key signed under the standard key's id", []reqOption{
			advanced(xdrtest.DefaultAdvancedKey, nonce(17), now), withHeader("x-xdr-auth-id", xdrtest.DefaultKeyID)}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tn, "get_incidents", page, tc.opts...)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if tc.want == 401 && r.errCode(t) != "401" {
				t.Errorf("err_code %q, want 401", r.errCode(t))
			}
		})
	}

	// The skew check follows the injected clock.
	clk.Add(10 * time.Minute)
	if r := call(t, tn, "get_incidents", page, advanced(xdrtest.DefaultAdvancedKey, nonce(14), now)); r.status != 401 {
		t.Fatalf("timestamp 10 minutes old accepted: %d", r.status)
	}
	if r := call(t, tn, "get_incidents", page, advanced(xdrtest.DefaultAdvancedKey, nonce(15), clk.Now().UnixMilli())); r.status != 200 {
		t.Fatalf("fresh timestamp refused: %d %s", r.status, r.body)
	}
}
