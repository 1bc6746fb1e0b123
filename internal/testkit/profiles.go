package testkit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	ocsfOnce    sync.Once
	ocsfSchemas map[int]*jsonschema.Schema
	ocsfErr     error
)

// OCSFSchemas are the shipped OCSF class schemas by class_uid.
var OCSFSchemas = map[int]string{2004: "detection_finding", 2005: "incident_finding"}

// ValidateOCSF checks an OCSF event against the JSON Schema of its class in
// schemas/ocsf/ (chosen by its class_uid), and returns the class_uid.
func ValidateOCSF(t testing.TB, value []byte) int {
	t.Helper()
	uid, err := OCSFError(t, value)
	if err != nil {
		t.Fatalf("%v\n%s", err, value)
	}
	return uid
}

// OCSFError is ValidateOCSF that returns the validation error.
func OCSFError(t testing.TB, value []byte) (classUID int, err error) {
	t.Helper()
	ocsfOnce.Do(func() {
		c := jsonschema.NewCompiler()
		ocsfSchemas = map[int]*jsonschema.Schema{}
		for uid, name := range OCSFSchemas {
			p := filepath.Join(SchemaDir(), "ocsf", name+".schema.json")
			s, err := c.Compile(p)
			if err != nil {
				ocsfErr = fmt.Errorf("compiling %s: %w", p, err)
				return
			}
			ocsfSchemas[uid] = s
		}
	})
	if ocsfErr != nil {
		t.Fatal(ocsfErr)
	}
	var head struct {
		ClassUID int `json:"class_uid"`
	}
	if err := json.Unmarshal(value, &head); err != nil {
		return 0, fmt.Errorf("OCSF event is not JSON: %w", err)
	}
	s, ok := ocsfSchemas[head.ClassUID]
	if !ok {
		return head.ClassUID, fmt.Errorf("OCSF event of class_uid %d: no schema shipped", head.ClassUID)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return head.ClassUID, fmt.Errorf("OCSF event is not JSON: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return head.ClassUID, fmt.Errorf("OCSF event does not match the %s schema: %w", OCSFSchemas[head.ClassUID], err)
	}
	return head.ClassUID, nil
}

var (
	ecsOnce   sync.Once
	ecsFields map[string]string
	ecsErr    error
)

// ECSVendor is the object under which an ECS document may carry fields ECS
// does not define.
const ECSVendor = "panw_cortex.xdr"

// ECSFields returns the fields of schemas/ecs/fields.csv, name → type.
func ECSFields(t testing.TB) map[string]string {
	t.Helper()
	ecsOnce.Do(func() {
		f, err := os.Open(filepath.Join(SchemaDir(), "ecs", "fields.csv"))
		if err != nil {
			ecsErr = err
			return
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			ecsErr = err
			return
		}
		ecsFields = map[string]string{}
		for _, r := range rows[1:] {
			ecsFields[r[0]] = r[1]
		}
	})
	if ecsErr != nil {
		t.Fatal(ecsErr)
	}
	return ecsFields
}

// CheckECS returns the fields of an ECS document (dotted paths of its
// values) that are neither ECS fields of the shipped version nor under
// ECSVendor. A field of ECS type object or flattened may hold anything;
// lists are looked through.
func CheckECS(t testing.TB, value []byte) (unknown []string) {
	t.Helper()
	fields := ECSFields(t)
	var doc any
	if err := json.Unmarshal(value, &doc); err != nil {
		t.Fatalf("ECS document is not JSON: %v", err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if path == ECSVendor || strings.HasPrefix(path, ECSVendor+".") {
			return
		}
		switch typ := fields[path]; typ {
		case "object", "flattened":
			return
		}
		switch x := v.(type) {
		case map[string]any:
			if path != "" {
				if _, ok := fields[path]; ok {
					return // an ECS field holding an object (e.g. a geo_point)
				}
			}
			for k, e := range x {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, e)
			}
		case []any:
			for _, e := range x {
				walk(path, e)
			}
		default:
			if _, ok := fields[path]; !ok {
				unknown = append(unknown, path)
			}
		}
	}
	walk("", doc)
	return unknown
}

// checkProfileRecord checks a record of an output profile: an OCSF event
// against its class's schema, an ECS document's fields against the ECS list.
func checkProfileRecord(t testing.TB, profile string, value []byte) {
	t.Helper()
	if profile == "ocsf" {
		ValidateOCSF(t, value)
		return
	}
	if bad := CheckECS(t, value); len(bad) > 0 {
		t.Fatalf("ECS document with fields outside ECS and %s: %v\n%s", ECSVendor, bad, value)
	}
}
