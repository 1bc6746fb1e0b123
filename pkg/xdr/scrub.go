package xdr

import (
	"bytes"
	"html"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// scrubber removes the API key from what a server sends back, in case a
// proxy or the API echoes the request's headers.
//
// Error texts (text) are searched exhaustively: the key is looked for in
// the text as it is, then in the text decoded once, twice and so on (up to
// maxDecodeLevels), where one decoding undoes every escape the connector,
// a log viewer or a browser could undo — JSON (\/, \", \uXXXX with surrogate
// pairs), HTML character references (named, decimal, hexadecimal) and
// percent-encoding — in any mix, so that JSON inside JSON, or an entity
// inside a JSON string, is decoded at the next level. Each decoded byte
// remembers the span of the original text it came from, so a match at any
// level replaces exactly the original bytes that spell the key.
//
// Reply bodies (reply) are searched that way only when a few cheap
// searches find a sign of the key in them (see reply): they can be large,
// and nearly all of them hold no echo.
//
// A scrubber is immutable and safe for concurrent use; a nil one, or one
// without a key, changes nothing.
type scrubber struct {
	key     []byte
	anchors [][]byte            // runs of the key's letters and digits that reply searches a body for (anchorOf)
	escaped [256]bool           // the key's letters and digits, which no JSON encoder escapes: a body escaping one as \u00XX may spell the key
	grams   map[string]struct{} // every run of partialRun characters of the key
	next    *scrubber           // another secret's, applied after this one's (withAlso)
}

// withAlso returns a scrubber that removes s's key and then secret: the
// key id, when it looks like a key (a key and its id swapped in the
// settings send the key as the id).
func (s *scrubber) withAlso(secret string) *scrubber {
	if s == nil || secret == "" {
		return s
	}
	out := *s
	out.next = newScrubber(secret)
	return &out
}

// looksSecret reports whether a key id looks like a key rather than an id:
// the API's key ids are short numbers.
func looksSecret(id string) bool {
	return len(id) >= 16 && strings.Trim(id, "0123456789") != ""
}

// partialRun is the shortest run of the key's characters that text scrubs
// even where the rest of the key is spelled otherwise (a server that
// escapes some of its characters in a way no decoder reads back).
const partialRun = 8

// minAnchor is the shortest alphanumeric run of a key that reply trusts to
// rule a body out in one search.
const minAnchor = 6

// maxDecodeLevels bounds how many nested decodings text undoes.
const maxDecodeLevels = 6

func newScrubber(key string) *scrubber {
	if key == "" {
		return &scrubber{}
	}
	grams := map[string]struct{}{}
	for i := 0; i+partialRun <= len(key); i++ {
		grams[key[i:i+partialRun]] = struct{}{}
	}
	sc := &scrubber{key: []byte(key), grams: grams}
	// The anchors: the run starting at the key's rarest character, and
	// runs within its first and last anchorReach characters, which an
	// echo cut short by a proxy ("<first 24 characters>...") keeps.
	reach := min(anchorReach, len(key))
	for _, a := range [][]byte{anchorOf(key, 0, len(key)), anchorOf(key, 0, reach), anchorOf(key, len(key)-reach, len(key))} {
		if a != nil && !slices.ContainsFunc(sc.anchors, func(b []byte) bool { return bytes.Equal(a, b) }) {
			sc.anchors = append(sc.anchors, a)
		}
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; isAlnum(c) {
			sc.escaped[c] = true
		}
	}
	return sc
}

// anchorReach is how far from either end of the key reply's end anchors
// lie.
const anchorReach = 16

// anchorOf picks a part of key that reply searches a body for: a run of at
// least minAnchor letters and digits within key[from:to] (every escaped
// form of the key spells it as it is), starting at the character least
// frequent in JSON text, so that the search rarely stops to compare (a run
// starting with a common letter made the check of a 4 MB reply 40 times
// slower). nil when key[from:to] has no such run.
func anchorOf(key string, from, to int) []byte {
	var best string
	bestRank := len(byFrequency) + 1
	for start := from; start < to; {
		end := start
		for end < to && isAlnum(key[end]) {
			end++
		}
		for p := start; end-p >= minAnchor; p++ {
			if r := strings.IndexByte(byFrequency, key[p]); r < bestRank {
				best, bestRank = key[p:end], r
			}
		}
		start = end + 1
	}
	if best == "" {
		return nil
	}
	return []byte(best)
}

// byFrequency orders letters and digits from the rarest in JSON replies
// (upper case, then rare lower case) to the most frequent (digits).
const byFrequency = "QZXJKVWYBGFPMUHLDCRNOISATEzqjxkvbywgpfmucdlhrsnioate0123456789"

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// text returns t with every spelling of the key, and every run of
// partialRun of its characters at any level of decoding, replaced by
// [REDACTED].
func (s *scrubber) text(t string) string {
	if s != nil && s.next != nil {
		own := *s
		own.next = nil
		return s.next.text(own.text(t))
	}
	if s == nil || len(s.key) == 0 || len(t) < min(len(s.key), partialRun) {
		return t
	}
	spans := s.spans([]byte(t))
	if len(spans) == 0 {
		return t
	}
	return string(redact([]byte(t), spans))
}

// bytes is text for a body.
func (s *scrubber) bytes(b []byte) []byte {
	if s != nil && s.next != nil {
		own := *s
		own.next = nil
		return s.next.bytes(own.bytes(b))
	}
	if s == nil || len(s.key) == 0 || len(b) < min(len(s.key), partialRun) {
		return b
	}
	spans := s.spans(b)
	if len(spans) == 0 {
		return b
	}
	return redact(b, spans)
}

// reply returns b with every spelling of the key, and every run of
// partialRun of its characters, replaced by [REDACTED], as bytes does, and
// how many runs were replaced. It allocates only when it finds one.
//
// Only the parts of a body around a sign of the key are searched that way
// (see windows): one of the anchors (a run of the key's letters and digits
// that every escaped form spells as it is, or that an echo cut short
// keeps), or a \u00XX escape of a letter or digit of the key, which no JSON
// encoder writes (an echo hiding the key from a plain search). A body
// without a sign, nearly every one, takes a few searches.
func (s *scrubber) reply(b []byte) ([]byte, int) {
	if s != nil && s.next != nil {
		own := *s
		own.next = nil
		b, n := own.reply(b)
		if len(s.next.anchors) == 0 {
			return b, n // a key id without a run to look for: scrubbed from texts only
		}
		b, m := s.next.reply(b)
		return b, n + m
	}
	if s == nil || len(s.key) == 0 {
		return b, 0
	}
	if len(s.anchors) == 0 {
		// A key without a run of letters and digits: nothing to look for
		// first, so the whole body is searched.
		spans := s.spans(b)
		if len(spans) == 0 {
			return b, 0
		}
		return redact(b, spans), runs(spans)
	}
	var spans [][2]int
	for _, w := range s.windows(b) {
		for _, sp := range s.spans(b[w[0]:w[1]]) {
			spans = append(spans, [2]int{w[0] + sp[0], w[0] + sp[1]})
		}
	}
	if len(spans) == 0 {
		return b, 0
	}
	return redact(b, spans), runs(spans)
}

// windows returns the parts of b around each sign of the key (an anchor,
// or a \u00XX escape of one of its letters or digits, which no JSON
// encoder writes), merged where they overlap: each reaches far enough on
// both sides to hold the key's every spelling that contains the sign.
// None for a body without a sign, which nearly all are.
func (s *scrubber) windows(b []byte) [][2]int {
	reach := 16*len(s.key) + 64
	var out [][2]int
	add := func(at int) {
		lo, hi := max(0, at-reach), min(len(b), at+reach)
		if n := len(out); n > 0 && lo <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], hi)
			return
		}
		out = append(out, [2]int{lo, hi})
	}
	var at []int
	for _, a := range s.anchors {
		for i := 0; ; {
			j := bytes.Index(b[i:], a)
			if j < 0 {
				break
			}
			at = append(at, i+j)
			i += j + len(a)
		}
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u00`))
		if j < 0 {
			break
		}
		k := i + j
		i = k + 4
		if i+2 > len(b) {
			break
		}
		if c, ok := hexByte(b[i], b[i+1]); ok && s.escaped[c] && !escapedBackslash(b, k) {
			at = append(at, k)
		}
	}
	slices.Sort(at)
	for _, p := range at {
		add(p)
	}
	return out
}

// escapedBackslash reports whether the backslash at b[k] is itself
// escaped: an odd number of backslashes precede it ("\\u0065" is the
// text \u0065, not the letter e).
func escapedBackslash(b []byte, k int) bool {
	n := 0
	for k-1-n >= 0 && b[k-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// hexByte reads two hexadecimal digits.
func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := hexValue(hi)
	l, ok2 := hexValue(lo)
	return h<<4 | l, ok1 && ok2
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// runs is how many runs redact replaces spans by.
func runs(spans [][2]int) int {
	slices.SortFunc(spans, func(x, y [2]int) int { return x[0] - y[0] })
	n := 0
	for i := 0; i < len(spans); {
		hi := spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= hi; i++ {
			hi = max(hi, spans[i][1])
		}
		n++
	}
	return n
}

// spans returns the [start, end) ranges of src that spell the key at some
// level of decoding.
func (s *scrubber) spans(src []byte) [][2]int {
	var out [][2]int
	cur := src
	var start, end []int // nil at level 0: the identity
	for level := 0; ; level++ {
		for i := 0; i+len(s.key) <= len(cur); {
			j := bytes.Index(cur[i:], s.key)
			if j < 0 {
				break
			}
			j += i
			if start == nil {
				out = append(out, [2]int{j, j + len(s.key)})
			} else {
				out = append(out, [2]int{start[j], end[j+len(s.key)-1]})
			}
			i = j + 1
		}
		for i := 0; i+partialRun <= len(cur); i++ {
			if _, ok := s.grams[string(cur[i:i+partialRun])]; !ok {
				continue
			}
			if start == nil {
				out = append(out, [2]int{i, i + partialRun})
			} else {
				out = append(out, [2]int{start[i], end[i+partialRun-1]})
			}
		}
		if level == maxDecodeLevels || len(cur) < partialRun {
			break
		}
		next, ns, ne, changed := decodeOnce(cur, start, end)
		if !changed {
			break
		}
		cur, start, end = next, ns, ne
	}
	return out
}

// redact replaces the union of spans in b with one marker per run.
func redact(b []byte, spans [][2]int) []byte {
	slices.SortFunc(spans, func(x, y [2]int) int { return x[0] - y[0] })
	out := make([]byte, 0, len(b))
	pos := 0
	for i := 0; i < len(spans); {
		lo, hi := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= hi; i++ {
			hi = max(hi, spans[i][1])
		}
		out = append(out, b[pos:lo]...)
		out = append(out, redacted...)
		pos = hi
	}
	return append(out, b[pos:]...)
}

// decodeOnce undoes one layer of every escape in cur: JSON string escapes,
// HTML character references and percent-encoding. start and end map each
// byte of cur to the original text (nil: cur is the original); the result
// carries the same map for its own bytes. changed is false when cur has
// nothing to decode.
func decodeOnce(cur []byte, start, end []int) (out []byte, ns, ne []int, changed bool) {
	if bytes.IndexAny(cur, `\&%`) < 0 {
		return nil, nil, nil, false
	}
	out = make([]byte, 0, len(cur))
	ns = make([]int, 0, len(cur))
	ne = make([]int, 0, len(cur))
	from := func(i int) int {
		if start == nil {
			return i
		}
		return start[i]
	}
	to := func(i int) int { // end of byte i of cur in the original
		if end == nil {
			return i + 1
		}
		return end[i]
	}
	var buf [utf8.UTFMax]byte
	for i := 0; i < len(cur); {
		emit, n := decodeUnit(cur[i:], buf[:0])
		if n == 0 {
			emit, n = cur[i:i+1], 1
		} else {
			changed = true
		}
		s, e := from(i), to(i+n-1)
		for _, c := range emit {
			out = append(out, c)
			ns = append(ns, s)
			ne = append(ne, e)
		}
		i += n
	}
	return out, ns, ne, changed
}

// decodeUnit decodes the escape at the start of b into buf, returning the
// bytes it stands for and how many bytes of b it takes; n is 0 when b does
// not start with an escape.
func decodeUnit(b []byte, buf []byte) (_ []byte, n int) {
	if len(b) < 2 {
		return nil, 0
	}
	switch b[0] {
	case '\\':
		switch c := b[1]; c {
		case '"', '\\', '/', '\'':
			return append(buf, c), 2
		case 'b':
			return append(buf, '\b'), 2
		case 'f':
			return append(buf, '\f'), 2
		case 'n':
			return append(buf, '\n'), 2
		case 'r':
			return append(buf, '\r'), 2
		case 't':
			return append(buf, '\t'), 2
		case 'u':
			r, ok := hexRune(b[2:], 4)
			if !ok {
				return nil, 0
			}
			n = 6
			if r >= 0xD800 && r < 0xDC00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
				if lo, ok := hexRune(b[8:], 4); ok && lo >= 0xDC00 && lo < 0xE000 {
					r, n = (r-0xD800)<<10+(lo-0xDC00)+0x10000, 12
				}
			}
			return utf8.AppendRune(buf, r), n
		}
	case '%':
		if v, ok := hexRune(b[1:], 2); ok {
			return append(buf, byte(v)), 3
		}
	case '&':
		return decodeEntity(b, buf)
	}
	return nil, 0
}

// decodeEntity decodes an HTML character reference at the start of b:
// &#47; &#x2F; (the semicolon optional, as browsers read them) or a named
// one such as &sol; or &amp;.
func decodeEntity(b []byte, buf []byte) ([]byte, int) {
	if len(b) >= 3 && b[1] == '#' {
		i, base := 2, 10
		if b[2] == 'x' || b[2] == 'X' {
			i, base = 3, 16
		}
		j := i
		for j < len(b) && j-i < 8 && isDigit(b[j], base) {
			j++
		}
		if j == i {
			return nil, 0
		}
		v, err := strconv.ParseUint(string(b[i:j]), base, 32)
		r := rune(v)
		if err != nil || !utf8.ValidRune(r) || r == 0 {
			r = utf8.RuneError
		}
		if j < len(b) && b[j] == ';' {
			j++
		}
		return utf8.AppendRune(buf, r), j
	}
	j := 1
	for j < len(b) && j <= 32 && (b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z' || b[j] >= '0' && b[j] <= '9') {
		j++
	}
	if j == 1 || j >= len(b) || b[j] != ';' {
		return nil, 0
	}
	ref := string(b[:j+1])
	if u := html.UnescapeString(ref); u != ref {
		return append(buf, u...), j + 1
	}
	return nil, 0
}

func hexRune(b []byte, n int) (rune, bool) {
	if len(b) < n {
		return 0, false
	}
	var r rune
	for _, c := range b[:n] {
		if !isDigit(c, 16) {
			return 0, false
		}
		v, _ := strconv.ParseUint(string(c), 16, 8)
		r = r<<4 | rune(v)
	}
	return r, true
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case base == 16:
		return c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return false
}
