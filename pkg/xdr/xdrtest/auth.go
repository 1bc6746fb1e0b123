package xdrtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Authentication headers.
const (
	headerAuthID    = "x-xdr-auth-id"
	headerTimestamp = "x-xdr-timestamp"
	headerNonce     = "x-xdr-nonce"
	nonceLen        = 64
)

const unauthorizedMsg = "Public API request unauthorized"

// authenticate checks the request's key. A request carrying x-xdr-nonce or
// x-xdr-timestamp is checked as an advanced key, any other as a standard
// key. The standard key is accepted only unsigned and the advanced key only
// signed, as in the product: a key used in the wrong mode gets the 401 of a
// wrong key. On failure it returns the 401 reply. Error texts never contain
// the key.
func (t *Tenant) authenticate(r *http.Request, now time.Time) (reply, bool) {
	fail := func(why string) (reply, bool) {
		return errReply(http.StatusUnauthorized, shapeReply, 401, unauthorizedMsg, why), false
	}
	keyID := r.Header.Get(headerAuthID)
	auth := r.Header.Get("Authorization")
	if keyID == "" {
		return fail("missing x-xdr-auth-id header")
	}
	if auth == "" {
		return fail("missing Authorization header")
	}
	if keyID != t.cfg.KeyID && keyID != t.cfg.AdvancedKeyID {
		return fail("unknown API key id")
	}
	nonce, ts := r.Header.Get(headerNonce), r.Header.Get(headerTimestamp)
	if nonce == "" && ts == "" {
		// Only the standard key may be sent as it is; an advanced key sent so
		// is refused like a wrong key.
		if keyID != t.cfg.KeyID || subtle.ConstantTimeCompare([]byte(auth), []byte(t.cfg.Key)) != 1 {
			return fail("invalid API key")
		}
		return reply{}, true
	}

	if !validNonce(nonce) {
		return fail("x-xdr-nonce must be 64 characters from [A-Za-z0-9]")
	}
	stamp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts == "" || ts[0] == '+' || ts[0] == '-' {
		return fail("x-xdr-timestamp must be epoch milliseconds")
	}
	nowMs, skew := now.UnixMilli(), t.cfg.MaxSkew.Milliseconds()
	if stamp < nowMs-skew || stamp > nowMs+skew {
		return fail("x-xdr-timestamp outside the accepted window")
	}
	// Only the advanced key signs; a standard key's id with a signature is
	// refused like a wrong signature.
	sum := sha256.Sum256([]byte(t.cfg.AdvancedKey + nonce + ts))
	want := hex.EncodeToString(sum[:])
	if keyID != t.cfg.AdvancedKeyID || subtle.ConstantTimeCompare([]byte(strings.ToLower(auth)), []byte(want)) != 1 {
		return fail("invalid signature")
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.nonces) > 1024 {
		for n, s := range t.nonces {
			if s < nowMs-2*skew { // replays of these fail the skew check anyway
				delete(t.nonces, n)
			}
		}
	}
	if _, seen := t.nonces[nonce]; seen {
		return fail("nonce already used")
	}
	t.nonces[nonce] = stamp
	return reply{}, true
}

func validNonce(n string) bool {
	if len(n) != nonceLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
