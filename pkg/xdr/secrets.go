package xdr

import (
	"cmp"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// The process's secrets: every value a Secret was made of (NewSecret, or a
// configuration loader filling one), so that what leaves the process can
// be scrubbed of them whatever carried them there. A secret a library
// quotes in its own error text (a Kafka broker refusing SASL may quote
// what it was sent) never passed through this package's scrubber: the
// outputs scrub it instead (ScrubSecrets, ScrubbingWriter).
var secrets struct {
	mu    sync.Mutex
	seen  map[string]bool
	stale atomic.Bool                      // a secret was remembered since r was made
	r     atomic.Pointer[strings.Replacer] // nil until a secret is remembered and asked for
}

// minRemembered is the shortest secret remembered: a shorter one would
// be found by chance in ordinary text.
const minRemembered = 6

// remember adds s to the process's secrets.
func remember(s string) {
	s = strings.TrimSpace(s)
	if len(s) < minRemembered {
		return
	}
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.seen[s] {
		return
	}
	if secrets.seen == nil {
		secrets.seen = map[string]bool{}
	}
	secrets.seen[s] = true
	secrets.stale.Store(true)
}

// replacer returns the Replacer of the process's secrets, as they are and
// as a JSON string spells them, made again only after a secret was added
// (a tenants file of hundreds of keys makes it once); nil without secrets.
func replacer() *strings.Replacer {
	if !secrets.stale.Load() {
		return secrets.r.Load()
	}
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.stale.Load() {
		forms := map[string]bool{}
		for k := range secrets.seen {
			forms[k] = true
			q, _ := json.Marshal(k)
			forms[string(q[1:len(q)-1])] = true
		}
		// The longest first: the Replacer tries them in this order at
		// each place, and a form may begin with another.
		var pairs []string
		for _, f := range slices.SortedFunc(maps.Keys(forms), func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) }) {
			pairs = append(pairs, f, redacted)
		}
		secrets.r.Store(strings.NewReplacer(pairs...))
		secrets.stale.Store(false)
	}
	return secrets.r.Load()
}

// ScrubSecrets returns t with every secret of the process replaced by
// [REDACTED].
func ScrubSecrets(t string) string {
	if r := replacer(); r != nil {
		return r.Replace(t)
	}
	return t
}

// ScrubbingWriter returns a writer that writes to w what it is given with
// every secret of the process replaced by [REDACTED] (one Write at a time:
// a secret split across two Writes is not found). The commands' standard
// output and error go through one.
func ScrubbingWriter(w io.Writer) io.Writer { return scrubbingWriter{w} }

type scrubbingWriter struct{ w io.Writer }

// Unwrap returns the writer s writes to: whoever asks whether the output
// is a terminal looks through s.
func (s scrubbingWriter) Unwrap() io.Writer { return s.w }

func (s scrubbingWriter) Write(p []byte) (int, error) {
	r := replacer()
	if r == nil {
		return s.w.Write(p)
	}
	if _, err := r.WriteString(s.w, string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
