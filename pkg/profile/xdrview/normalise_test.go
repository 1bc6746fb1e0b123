package xdrview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// TestNormalisers holds every normaliser and field reader to the spellings
// real tenants send: each row is a function, its input (for a field
// reader, the field's JSON value) and what it returns, printed with %v.
func TestNormalisers(t *testing.T) {
	for _, tc := range []struct{ fn, in, want string }{
		{"Missing", "", "true"}, {"Missing", " n/a ", "true"}, {"Missing", "Unknown", "true"}, {"Missing", "-", "true"},
		{"Missing", "NONE", "true"}, {"Missing", "null", "true"}, {"Missing", "NA", "true"}, {"Missing", "0", "false"}, {"Missing", "--", "false"},

		{"Severity", " SEV_040_HIGH ", "high"}, {"Severity", "Medium", "medium"}, {"Severity", "N/A", ""}, {"Severity", "sev_x", "sev_x"},
		{"SeverityLevel", "informational", "1 informational"}, {"SeverityLevel", "INFO", "1 info"}, {"SeverityLevel", "low", "2 low"},
		{"SeverityLevel", "SEV_030_MEDIUM", "3 medium"}, {"SeverityLevel", "High", "4 high"}, {"SeverityLevel", "critical", "5 critical"},
		{"SeverityLevel", "unknown", "0 "}, {"SeverityLevel", "severe", "0 severe"},

		{"Status", "STATUS_010_NEW", "new"}, {"Status", " Under_Investigation ", "under_investigation"},
		{"Status", "resolved_threat_handled", "resolved_threat_handled"}, {"Status", "N/A", ""},
		{"Resolved", "resolved_other", "true"}, {"Resolved", "closed", "true"}, {"Resolved", "new", "false"},

		{"IP", " 10.0.0.5 ", "10.0.0.5 true"}, {"IP", "2001:DB8::1", "2001:db8::1 true"}, {"IP", "fe80::1%eth0", "fe80::1 true"},
		{"IP", "10.0.0", " false"}, {"IP", "ws-01", " false"}, {"IP", "255.255.255.255", "255.255.255.255 true"},
		{"IP", "256.1.1.1", " false"}, {"IP", "01.2.3.4", " false"}, {"IP", "1.2.3.4.5", " false"}, {"IP", "1..3.4", " false"},
		{"IP", "0.0.0.0", "0.0.0.0 true"}, {"IP", "1.2.3.", " false"}, {"IP", "1234.1.1.1", " false"},
		{"Host", "ws-01:a1b2", "ws-01 a1b2"}, {"Host", " ws-02 ", "ws-02 "},
		{"User", `ACME\bob`, "bob ACME"}, {"User", `ACME\\bob`, "bob ACME"}, {"User", "bob@acme.example", "bob acme.example"},
		{"User", "@x", "@x "}, {"User", "bob", "bob "},
		{"BaseName", `C:\Windows\System32\cmd.exe`, "cmd.exe"}, {"BaseName", "/usr/bin/curl", "curl"},
		{"BaseName", "cmd.exe", "cmd.exe"}, {"BaseName", `C:\Temp\`, "/"}, {"BaseName", "", ""},
		{"MAC", "00-50-56-AA-BB-CC", "true"}, {"MAC", "00:1a:2b:3c:4d:5e", "true"}, {"MAC", "00.50.56.aa.bb.cc", "false"},
		{"MAC", "00:50-56:aa:bb:cc", "false"}, {"MAC", "00:50:56:aa:bb:cg", "false"}, {"MAC", "0050.56aa.bbcc", "false"}, {"MAC", "N/A", "false"},
		{"Mitres", `["TA0002 - Execution","T1059.001 - Command and Scripting Interpreter: PowerShell","TA0002 - Execution"]`,
			"[{TA0002 Execution} {T1059.001 Command and Scripting Interpreter: PowerShell}]"},
		{"Mitres", `"T1003"`, "[{T1003 }]"},
		{"Sub", "T1059.001", "T1059 true"}, {"Sub", "T1059", "T1059 false"}, {"Sub", "TA0002", "TA0002 false"},

		{"Text", `" 891 "`, "891"}, {"Text", `891.0`, "891"}, {"Text", `"N/A"`, ""}, {"Text", `true`, ""}, {"Text", `["", "x"]`, "x"},
		{"Scalar", `"UNKNOWN"`, "UNKNOWN"}, {"Scalar", `null`, ""},
		{"Int", `"1700000000000"`, "1700000000000 true"}, {"Int", `1.7e12`, "1700000000000 true"}, {"Int", `1.5`, "0 false"},
		{"Int", `"0x10"`, "0 false"}, {"Int", `[42]`, "42 true"}, {"Int", `null`, "0 false"},
		{"Time", `1700000000000.0`, "1700000000000"}, {"Time", `-5`, "0"}, {"Time", `"N/A"`, "0"},
		{"Bool", `"No"`, "false true"}, {"Bool", `"YES"`, "true true"}, {"Bool", `true`, "true true"}, {"Bool", `"maybe"`, "false false"},
		{"List", `"DT:UNKNOWN"`, "[DT:UNKNOWN]"}, {"List", `["a", " a ", "N/A", 7, null]`, "[a 7]"},
		{"Split", `"00:11:22:33:44:55, N/A,00:11:22:33:44:55"`, "[00:11:22:33:44:55]"}, {"Split", `["a,b", "b,c"]`, "[a b c]"},
		{"IPs", `"10.0.0.5,ws-01, 10.0.0.6"`, "[10.0.0.5 10.0.0.6]"}, {"IPs", `["::FFFF:1.2.3.4"]`, "[::ffff:1.2.3.4]"},
		{"Port", `"443"`, "443 true"}, {"Port", `70000`, "0 false"}, {"Port", `-1`, "0 false"},
	} {
		if got := normalise(t, tc.fn, tc.in); got != tc.want {
			t.Errorf("%s(%s) = %q, want %q", tc.fn, tc.in, got, tc.want)
		}
	}
}

// normalise calls the normaliser fn on in and prints what it returns.
func normalise(t *testing.T, fn, in string) string {
	t.Helper()
	var v *View
	if strings.Contains(" Text Scalar Int Time Bool List Split IPs Port Mitres ", " "+fn+" ") {
		var err error
		if v, err = New([]byte(`{"f":` + in + `}`)); err != nil {
			t.Fatalf("%s(%s): %v", fn, in, err)
		}
	}
	pair := func(a, b any) string { return fmt.Sprint(a, " ", b) }
	switch fn {
	case "Missing":
		return fmt.Sprint(Missing(in))
	case "Severity":
		return Severity(in)
	case "SeverityLevel":
		return pair(SeverityLevel(in))
	case "Status":
		return Status(in)
	case "Resolved":
		return fmt.Sprint(Resolved(in))
	case "IP":
		return pair(IP(in))
	case "Host":
		return pair(Host(in))
	case "User":
		return pair(User(in))
	case "BaseName":
		return BaseName(in)
	case "MAC":
		return fmt.Sprint(MAC(in))
	case "Sub":
		return pair(Mitre{ID: in}.Sub())
	case "Mitres":
		return fmt.Sprint(v.Mitres("f"))
	case "Text":
		return v.Text("f")
	case "Scalar":
		return v.Scalar("f")
	case "Int":
		return pair(v.Int("f"))
	case "Time":
		return fmt.Sprint(v.Time("f"))
	case "Bool":
		return pair(v.Bool("f"))
	case "List":
		return fmt.Sprint(v.List("f"))
	case "Split":
		return fmt.Sprint(v.Split("f"))
	case "IPs":
		return fmt.Sprint(v.IPs("f"))
	case "Port":
		return pair(v.Port("f"))
	}
	t.Fatalf("no normaliser %s", fn)
	return ""
}

// TestIndexManyFieldsAndRepeats: a View finds every member of an object
// larger than its first index, and a repeated key reads as its last value,
// as json.Unmarshal reads it, whether or not the field was read before.
func TestIndexManyFieldsAndRepeats(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"f0":"first"`)
	for i := range 300 {
		fmt.Fprintf(&b, `,"f%d":"v%d"`, i, i)
	}
	b.WriteString(`,"f7":"last"}`)
	var v View
	for range 2 { // the second time, over the index the first one grew
		if err := v.Reset([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		if len(v.fields) != 300 {
			t.Fatalf("%d fields, want 300", len(v.fields))
		}
		for i := range 300 {
			want := fmt.Sprintf("v%d", i)
			switch i {
			case 0:
				want = "v0" // "first", then "v0"
			case 7:
				want = "last"
			}
			if got := v.Text(fmt.Sprintf("f%d", i)); got != want {
				t.Fatalf("f%d = %q, want %q", i, got, want)
			}
		}
		if got := v.Text("f300"); got != "" {
			t.Fatalf("absent f300 = %q", got)
		}
	}
	// A field read, then the View reset to an object with the same key:
	// the new value, not the one read.
	for _, obj := range []string{`{"a":"x"}`, `{"a":"y","a":"z"}`} {
		if err := v.Reset([]byte(obj)); err != nil {
			t.Fatal(err)
		}
		if got, want := v.Text("a"), obj[len(obj)-3:len(obj)-2]; got != want {
			t.Fatalf("%s: a = %q, want %q", obj, got, want)
		}
	}
}

// FuzzIPIsNetip: IP reads an address as net/netip does, with its zone
// dropped, whatever the input: the canonical IPv4 shortcut changes nothing.
func FuzzIPIsNetip(f *testing.F) {
	for _, s := range []string{"10.0.0.5", " 10.0.0.5 ", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "::1", "fe80::1%eth0",
		"::ffff:1.2.3.4", "1.2.3.4%x", "0.0.0.0", "1.2.3.4.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := IP(s)
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if ok != (err == nil) || ok && got != a.WithZone("").String() {
			t.Fatalf("IP(%q) = %q, %v; netip: %v, %v", s, got, ok, a, err)
		}
	})
}

// TestLookupsFollowTheObject: a name looked up (and remembered) in one
// object is looked up again in the next whenever its keys differ, so a
// field absent before is found, one present before is not, and a value is
// the new object's, through objects of one shape, another, repeats and a
// failed reset; names built at run time read like constants.
func TestLookupsFollowTheObject(t *testing.T) {
	var v View
	for i, step := range []struct {
		obj     string
		c, a    string // want Text("c"), Text("a")
		failing bool
	}{
		{obj: `{"a":"1","b":"2"}`, c: "", a: "1"},
		{obj: `{"a":"4","b":"5"}`, c: "", a: "4"},
		{obj: `{"a":"1","b":"2","c":"3"}`, c: "3", a: "1"},
		{obj: `{"a":"7","b":"8","c":"9"}`, c: "9", a: "7"},
		{obj: `{"b":"2","a":"1"}`, c: "", a: "1"},
		{obj: `{"c":"x","c":"y","a":"z"}`, c: "y", a: "z"},
		{obj: `{"c":"x","c":"w","a":"z"}`, c: "w", a: "z"},
		{obj: `{"c":"x"}`, c: "x", a: ""},
		{obj: `[1]`, failing: true},
		{obj: `{"a\u0041":"e","c":"f"}`, c: "f", a: ""},
		{obj: `{"a":"g"}`, c: "", a: "g"},
	} {
		err := v.Reset([]byte(step.obj))
		if (err != nil) != step.failing {
			t.Fatalf("step %d %s: %v", i, step.obj, err)
		}
		if err != nil {
			continue
		}
		for range 2 { // the second time from what the first remembered
			if got := v.Text("c"); got != step.c {
				t.Fatalf("step %d %s: c = %q, want %q", i, step.obj, got, step.c)
			}
			if got := v.Text("a"); got != step.a {
				t.Fatalf("step %d %s: a = %q, want %q", i, step.obj, got, step.a)
			}
			if got := v.Text(fmt.Sprint("c")); got != step.c {
				t.Fatalf("step %d %s: c (built) = %q, want %q", i, step.obj, got, step.c)
			}
		}
	}
}

// FuzzIsNullIsTrimmedNull: isNull's shortcut for trimmed bytes answers as
// trimming them first does, whatever the bytes.
func FuzzIsNullIsTrimmedNull(f *testing.F) {
	for _, s := range []string{"null", " null", "null\n", "\u00a0null", "nul", "nulll", "Null", "\x85null", "", "  "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := isNull(b), string(bytes.TrimSpace(b)) == "null"; got != want {
			t.Fatalf("isNull(%q) = %v, want %v", b, got, want)
		}
	})
}

// TestLookupsByNamesFromAReusedBuffer: when the caller decodes each object
// into the same buffer, so that the bytes of the keys before now hold the
// next object's, every field is found as a new View finds it, by constant
// names and by a name read from the object (which shares its bytes).
func TestLookupsByNamesFromAReusedBuffer(t *testing.T) {
	var raw json.RawMessage
	var v View
	for i, obj := range []string{
		`{"ptr":"cd","ab":"1","cd":"2"}`, `{"ptr":"ab","ab":"1","cd":"2"}`, `{"ptr":"ef","ab":"1","cd":"2"}`, `{"ptr":"cd","ab":"1","cd":"2"}`,
		// Other keys where the keys before were, in bytes of the same length.
		`{"ptr":"ef","ef":"3","cd":"4"}`, `{"ptr":"ab","ab":"5","gh":"6"}`, `{"ptr":"ab","ab":"7","gh":"8"}`, `{"qrs":"ab","ab":"9","gh":"0"}`,
	} {
		if err := json.Unmarshal([]byte(obj), &raw); err != nil { // into raw[:0]
			t.Fatal(err)
		}
		if err := v.ResetDecoded(raw); err != nil {
			t.Fatal(err)
		}
		fresh, err := New([]byte(obj))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got, want := v.Text(v.Text("ptr")), fresh.Text(fresh.Text("ptr")); got != want {
				t.Fatalf("object %d %s: the field ptr names reads %q, a new View's %q", i, obj, got, want)
			}
			for _, name := range []string{"ab", "cd", "ef", "gh", "ptr", "qrs"} {
				if got, want := v.Text(name), fresh.Text(name); got != want {
					t.Fatalf("object %d %s: %s = %q, a new View's %q", i, obj, name, got, want)
				}
			}
		}
	}

}
