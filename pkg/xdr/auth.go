package xdr

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// AuthMode selects how requests are authenticated; it must match the type of
// the API key.
type AuthMode string

const (
	// AuthStandard sends the key itself: Authorization: <key>.
	AuthStandard AuthMode = "standard"
	// AuthAdvanced signs every request: Authorization is
	// hex(sha256(key + nonce + timestamp)) with a fresh 64-character nonce and
	// the time in epoch milliseconds, sent in x-xdr-nonce and x-xdr-timestamp.
	AuthAdvanced AuthMode = "advanced"
)

// Header names of the XDR authentication scheme.
const (
	HeaderAuthID    = "x-xdr-auth-id"
	HeaderNonce     = "x-xdr-nonce"
	HeaderTimestamp = "x-xdr-timestamp"
)

// nonceLen and nonceAlphabet define the advanced-key nonce.
const (
	nonceLen      = 64
	nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// nonceLimit is the largest multiple of len(nonceAlphabet) that fits in a
	// byte; bytes at or above it are discarded so every character is equally
	// likely.
	nonceLimit = 256 - 256%len(nonceAlphabet)
)

// signer builds the authentication headers of one request. It is safe for
// concurrent use.
type signer struct {
	mode  AuthMode
	keyID string
	key   Secret
	now   func() time.Time

	mu   sync.Mutex // guards rand, which need not be safe for concurrent use
	rand io.Reader
}

// sign sets the authentication headers on h, replacing any earlier ones, so
// each attempt carries its own nonce and timestamp.
func (s *signer) sign(h http.Header) error {
	h.Set(HeaderAuthID, s.keyID)
	if s.mode != AuthAdvanced {
		h.Set("Authorization", s.key.Reveal())
		return nil
	}
	nonce, err := s.nonce()
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(s.now().UnixMilli(), 10)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderTimestamp, ts)
	h.Set("Authorization", advancedSignature(s.key, nonce, ts))
	return nil
}

// advancedSignature is hex(sha256(key + nonce + timestamp)), lower case.
func advancedSignature(key Secret, nonce, timestamp string) string {
	sum := sha256.Sum256([]byte(key.Reveal() + nonce + timestamp))
	return hex.EncodeToString(sum[:])
}

// nonce draws nonceLen characters from nonceAlphabet by rejection sampling,
// so no character is more likely than another.
func (s *signer) nonce() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]byte, 0, nonceLen)
	buf := make([]byte, nonceLen+nonceLen/4)
	for len(out) < nonceLen {
		if _, err := io.ReadFull(s.rand, buf); err != nil {
			return "", fmt.Errorf("generating nonce: %w", err)
		}
		for _, b := range buf {
			if int(b) >= nonceLimit {
				continue
			}
			out = append(out, nonceAlphabet[int(b)%len(nonceAlphabet)])
			if len(out) == nonceLen {
				break
			}
		}
	}
	return string(out), nil
}
