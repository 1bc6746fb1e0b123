package xdrview

import (
	"encoding/json"
	"testing"
)

// TestListShapedScalars: the scalar readers read a list (the v2 alerts
// API's shape) as its first present value, and a list of several values
// stays in Rest after the read.
func TestListShapedScalars(t *testing.T) {
	v, err := New([]byte(`{"one":["192.0.2.1"],"pid":[996],"spid":["996"],"ts":[1701000095000],"b":[false],"sev":["UNKNOWN"],
		"many":["N/A","CORP\\dana","erin"],"nums":[7001,7002],"same":["x"," x "],"empty":[],"nulls":[null,null],"nested":[["a"]],
		"sentinels":["N/A","-"],"obj":[{"a":1},"late"],"port":[443],"plain":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"one": "192.0.2.1", "pid": "996", "many": "CORP\\dana", "nums": "7001", "same": "x", "empty": "", "nulls": "",
		"nested": "", "sentinels": "", "obj": "late", "plain": "s", "missing": "",
	} {
		if got := v.Text(name); got != want {
			t.Errorf("Text(%s) = %q, want %q", name, got, want)
		}
	}
	if got := v.Scalar("sev"); got != "UNKNOWN" {
		t.Errorf(`Scalar(sev) = %q, want "UNKNOWN" (a list of a sentinel reads as it)`, got)
	}
	if got := v.Scalar("sentinels"); got != "N/A" {
		t.Errorf(`Scalar(sentinels) = %q, want "N/A"`, got)
	}
	for name, want := range map[string]int64{"pid": 996, "spid": 996, "nums": 7001} {
		if got, ok := v.Int(name); !ok || got != want {
			t.Errorf("Int(%s) = %d, %v, want %d", name, got, ok, want)
		}
	}
	if _, ok := v.Int("empty"); ok {
		t.Error("Int(empty) ok, want absent")
	}
	if got := v.Time("ts"); got != 1701000095000 {
		t.Errorf("Time(ts) = %d", got)
	}
	if b, ok := v.Bool("b"); b || !ok {
		t.Errorf("Bool(b) = %v, %v, want false, true", b, ok)
	}
	if p, ok := v.Port("port"); p != 443 || !ok {
		t.Errorf("Port(port) = %d, %v", p, ok)
	}
	// Every field was read: the ones with several distinct present values
	// stay in Rest as sent, whatever Use and ResetUse say after.
	v.ResetUse()
	v.Use("one", "pid", "many", "nums", "same", "obj", "sentinels", "plain")
	rest := v.Rest()
	for _, k := range []string{"many", "nums"} {
		if string(rest[k]) != string(v.get(k).val) {
			t.Errorf("Rest()[%s] = %s, want the list as sent", k, rest[k])
		}
	}
	for _, k := range []string{"one", "pid", "same", "obj", "sentinels", "plain"} {
		if _, ok := rest[k]; ok {
			t.Errorf("Rest() has %s: a list of one value is placed whole", k)
		}
	}
}

// FuzzOneElementList: whatever the JSON value, a list of it alone reads as
// the value itself by every scalar reader.
func FuzzOneElementList(f *testing.F) {
	for _, s := range []string{`"192.0.2.1"`, `996`, `"996"`, `891.0`, `true`, `"No"`, `null`, `"N/A"`, `" x "`, `-0`, `1e3`, `"caf\u00e9"`, `{}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		bare, err := New([]byte(`{"a":` + string(raw) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		list, err := New([]byte(`{"a":[` + string(raw) + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		if raw := bare.Raw("a"); len(raw) > 0 && (raw[0] == '[' || raw[0] == '{') {
			return // a list of a list or an object reads as absent, tested above
		}
		if a, b := bare.Text("a"), list.Text("a"); a != b {
			t.Errorf("Text: %q bare, %q in a list", a, b)
		}
		if a, b := bare.Scalar("a"), list.Scalar("a"); a != b {
			t.Errorf("Scalar: %q bare, %q in a list", a, b)
		}
		an, aok := bare.Int("a")
		bn, bok := list.Int("a")
		if an != bn || aok != bok {
			t.Errorf("Int: %d %v bare, %d %v in a list", an, aok, bn, bok)
		}
		ab, aok := bare.Bool("a")
		bb, bok := list.Bool("a")
		if ab != bb || aok != bok {
			t.Errorf("Bool: %v %v bare, %v %v in a list", ab, aok, bb, bok)
		}
		if _, kept := list.Rest()["a"]; kept {
			t.Errorf("a list of one value stays in Rest")
		}
	})
}
