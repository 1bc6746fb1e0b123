package xdr

import (
	"bytes"
	"testing"
)

// BenchmarkReplyKeyCheck is the cost of the check every successful reply
// goes through: a 4 MB body (about a 1,000-alert extra-data reply) with no
// echo, against a 64-character base64 key.
func BenchmarkReplyKeyCheck(b *testing.B) {
	sc := newScrubber("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4sq2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s")
	body := bytes.Repeat([]byte(`{"alert_id":"123456","description":"Suspicious process execution by svc_backup","host_ip":["10.0.0.1"]},`), 4<<20/106)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, n := sc.reply(body); n != 0 {
			b.Fatal(n)
		}
	}
}

// Every form reply looks for holds the anchor, so a body without the
// anchor cannot hold a form; a key without a long enough run is checked
// form by form.
func TestReplyAnchor(t *testing.T) {
	for _, key := range []string{"q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s", "0123456789abcdef0123456789abcdef", "ab/cd/ef+gh=ij/kl/mn", "a-b_c.d~e"} {
		sc := newScrubber(key)
		if a := anchorOf(key); a != nil {
			for _, f := range sc.forms {
				if !bytes.Contains(f, a) {
					t.Errorf("key %q: form %q lacks the anchor %q", key, f, a)
				}
			}
		}
		for _, f := range sc.forms {
			body := []byte(`{"note":"` + string(f) + `"}`)
			if out, n := sc.reply(body); n != 1 || bytes.Contains(out, []byte(key)) {
				t.Errorf("key %q: form %q: %d replaced, body %s", key, f, n, out)
			}
		}
	}
	if a := anchorOf("ab/cd/ef+gh=ij/kl/mn"); a != nil {
		t.Errorf("anchor %q of a key without a run of %d", a, minAnchor)
	}
	// Of the runs long enough, the one starting with the rarest character.
	if a := string(anchorOf("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s")); a != "Wc3Ne7" {
		t.Errorf("anchor %q, want Wc3Ne7", a)
	}
}

// BenchmarkErrorScrub is the cost of scrubbing a whole 64 KiB error body
// (the most that is read of one) full of escapes, which every decoding
// level walks.
func BenchmarkErrorScrub(b *testing.B) {
	sc := newScrubber("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4sq2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s")
	body := bytes.Repeat([]byte(`{"err_msg":"a \"quoted\" path C:\\\\tmp\\\\x &amp;&#47; 100%25 done"},`), 64<<10/64)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sc.bytes(body)
	}
}
