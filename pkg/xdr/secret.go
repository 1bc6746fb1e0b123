package xdr

import (
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// Secret holds a credential such as the API key. Every way of printing it —
// fmt verbs, slog attributes, JSON encoding — yields "[REDACTED]"; only Reveal
// returns the value, and only the request signer should call it.
type Secret struct{ v string }

// NewSecret wraps s, and remembers it for ScrubSecrets.
func NewSecret(s string) Secret {
	remember(s)
	return Secret{v: s}
}

// Reveal returns the wrapped value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no value was set.
func (s Secret) IsZero() bool { return s.v == "" }

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return redacted }

// Format makes every verb (%d and %x included) print the redaction marker.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so configuration loaders
// can fill a Secret directly.
func (s *Secret) UnmarshalText(b []byte) error {
	s.v = string(b)
	remember(s.v)
	return nil
}
