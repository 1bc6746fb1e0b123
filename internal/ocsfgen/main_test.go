package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestGenerate compiles a miniature schema repository: a class extending
// a base event, a profile included, an object extending an entity with a
// constraint, a derived type, dictionary enums merged with the class's, and
// the observable ids collected.
func TestGenerate(t *testing.T) {
	fsys := fstest.MapFS{
		"version.json":    {Data: []byte(`{"version":"9.9.9"}`)},
		"categories.json": {Data: []byte(`{"attributes":{"findings":{"uid":2}}}`)},
		"dictionary.json": {Data: []byte(`{"attributes":{
			"activity_id":{"type":"integer_t","enum":{"0":{},"99":{}}},
			"status_id":{"type":"integer_t","enum":{"0":{},"99":{}}},
			"time":{"type":"timestamp_t"},"metadata":{"type":"metadata"},"name":{"type":"string_t"},
			"uid":{"type":"string_t"},"ip":{"type":"ip_t"},"port":{"type":"port_t"},"cloud":{"type":"string_t"},
			"endpoints":{"type":"endpoint","is_array":true},"profiles":{"type":"string_t","is_array":true},
			"unmapped":{"type":"object"},"observables":{"type":"observable","is_array":true},"type_id":{"type":"integer_t"}},
			"types":{"attributes":{"ip_t":{"type":"string_t","max_len":40,"observable":2},"port_t":{"type":"integer_t","range":[0,65535]},
			"timestamp_t":{"type":"long_t"}}}}`)},
		"events/base_event.json": {Data: []byte(`{"name":"base_event","attributes":{"$include":["profiles/cloud.json"],
			"activity_id":{"requirement":"required"},"time":{"requirement":"required"},"metadata":{"requirement":"required"},
			"unmapped":{"requirement":"optional"},"observables":{"requirement":"optional"}}}`)},
		"events/findings/thing.json": {Data: []byte(`{"name":"thing_finding","uid":7,"caption":"Thing","category":"findings","extends":"base_event",
			"attributes":{"activity_id":{"enum":{"1":{"caption":"Create"}}},"status_id":{"requirement":"required","enum":{"1":{}}},"endpoints":{}}}`)},
		"profiles/cloud.json":     {Data: []byte(`{"name":"cloud","attributes":{"cloud":{"requirement":"required"}}}`)},
		"objects/object.json":     {Data: []byte(`{"name":"object","attributes":{}}`)},
		"objects/_entity.json":    {Data: []byte(`{"name":"_entity","extends":"object","attributes":{"name":{},"uid":{}},"constraints":{"at_least_one":["name","uid"]}}`)},
		"objects/endpoint.json":   {Data: []byte(`{"name":"endpoint","extends":"_entity","attributes":{"ip":{},"port":{}}}`)},
		"objects/metadata.json":   {Data: []byte(`{"name":"metadata","attributes":{"profiles":{}}}`)},
		"objects/observable.json": {Data: []byte(`{"name":"observable","attributes":{"type_id":{"requirement":"required"}}}`)},
	}
	out := t.TempDir()
	if err := run(fsys, "9.9.9", out, []string{"thing_finding"}); err != nil {
		t.Fatal(err)
	}
	if err := run(fsys, "1.0.0", out, []string{"thing_finding"}); err == nil {
		t.Error("a checkout of another version was accepted")
	}
	b, err := os.ReadFile(filepath.Join(out, "thing_finding.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	check := func(what string, v any, want string) {
		t.Helper()
		b, _ := json.Marshal(v)
		if string(b) != want {
			t.Errorf("%s = %s, want %s", what, b, want)
		}
	}
	props := got["properties"].(map[string]any)
	defs := got["$defs"].(map[string]any)
	check("required", got["required"], `["activity_id","metadata","status_id","time"]`)
	check("class_uid", props["class_uid"], `{"const":2007,"type":"integer"}`)
	check("type_uid", props["type_uid"], `{"enum":[200700,200701,200799],"type":"integer"}`)
	check("status_id", props["status_id"], `{"enum":[0,1,99],"type":"integer"}`)
	check("time", props["time"], `{"type":"integer"}`)
	check("unmapped", props["unmapped"], `{"type":"object"}`)
	check("endpoints", props["endpoints"], `{"items":{"$ref":"#/$defs/endpoint"},"type":"array"}`)
	check("endpoint", defs["endpoint"], `{"additionalProperties":false,"allOf":[{"anyOf":[{"required":["name"]},{"required":["uid"]}]}],`+
		`"properties":{"ip":{"maxLength":40,"type":"string"},"name":{"type":"string"},"port":{"maximum":65535,"minimum":0,"type":"integer"},"uid":{"type":"string"}},"type":"object"}`)
	check("observable type ids", defs["observable"].(map[string]any)["properties"].(map[string]any)["type_id"], `{"enum":[0,2,99],"type":"integer"}`)
	check("cloud profile", got["allOf"], `[{"if":{"properties":{"metadata":{"properties":{"profiles":{"contains":{"const":"cloud"}}},"required":["profiles"]}},"required":["metadata"]},"then":{"required":["cloud"]}}]`)
}
