// Command ocsfgen writes the JSON Schema (draft 2020-12) of OCSF event
// classes, compiled from a checkout of the OCSF schema repository
// (github.com/ocsf/ocsf-schema) at one release:
//
//	git clone --branch v1.8.0 --depth 1 https://github.com/ocsf/ocsf-schema /tmp/ocsf-schema
//	go run ./internal/ocsfgen -schema /tmp/ocsf-schema -version 1.8.0 -out schemas/ocsf
//
// It resolves what the OCSF server resolves: a class's or object's
// "extends" chain, "$include"d profiles, the dictionary's attribute
// definitions deep-merged under each use, derived types (ip_t, port_t, ...)
// down to their base types with their regex, length and range, enums (as
// JSON Schema enums of their keys), required attributes, the at_least_one
// and just_one constraints, and the observable type ids. Every attribute of
// every profile a class or object can carry is allowed; nothing else is
// (additionalProperties false), except in the generic "object" type
// (unmapped) and json_t values. Extensions are not included.
package main

import (
	"bytes"
	"encoding/json"

	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	root := flag.String("schema", "", "a checkout of github.com/ocsf/ocsf-schema at the release to compile")
	version := flag.String("version", "1.8.0", "the release the checkout must be (its version.json)")
	out := flag.String("out", "schemas/ocsf", "the directory to write <class>.schema.json into")
	classes := flag.String("classes", "incident_finding,detection_finding", "comma-separated class names")
	flag.Parse()
	if err := run(os.DirFS(*root), *version, *out, strings.Split(*classes, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "ocsfgen:", err)
		os.Exit(1)
	}
}

func run(fsys fs.FS, version, out string, classes []string) error {
	s, err := load(fsys)
	if err != nil {
		return err
	}
	if s.version != version {
		return fmt.Errorf("the checkout is OCSF %s, not %s", s.version, version)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, c := range classes {
		doc, err := s.classSchema(c)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, c+".schema.json"), doc, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type obj = map[string]any

type schema struct {
	fsys       fs.FS
	version    string
	dict       map[string]obj // dictionary attributes
	types      map[string]obj // dictionary types
	objects    map[string]obj // object definitions by name
	events     map[string]obj // class definitions (and base_event) by name
	categories map[string]int // category uid by name
	observable map[string]string
	defs       map[string]obj // $defs being built
}

func load(fsys fs.FS) (*schema, error) {
	s := &schema{fsys: fsys, objects: map[string]obj{}, events: map[string]obj{}, categories: map[string]int{}, observable: map[string]string{}}
	var v struct{ Version string }
	if err := readJSON(fsys, "version.json", &v); err != nil {
		return nil, err
	}
	s.version = v.Version
	var dict struct {
		Attributes map[string]obj
		Types      struct{ Attributes map[string]obj }
	}
	if err := readJSON(fsys, "dictionary.json", &dict); err != nil {
		return nil, err
	}
	s.dict, s.types = dict.Attributes, dict.Types.Attributes
	var cats struct{ Attributes map[string]obj }
	if err := readJSON(fsys, "categories.json", &cats); err != nil {
		return nil, err
	}
	for name, c := range cats.Attributes {
		s.categories[name] = toInt(c["uid"])
	}
	for dir, into := range map[string]map[string]obj{"objects": s.objects, "events": s.events} {
		err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
				return err
			}
			var o obj
			if err := readJSON(fsys, p, &o); err != nil {
				return err
			}
			into[str(o["name"])] = o
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	s.collectObservables()
	return s, nil
}

// collectObservables builds the observable type_id enum the OCSF server
// builds: every type, dictionary attribute, object and object or class
// attribute that declares an "observable" id.
func (s *schema) collectObservables() {
	add := func(def obj, caption string) {
		if id, ok := def["observable"]; ok {
			s.observable[strconv.Itoa(toInt(id))] = caption
		}
	}
	for _, t := range s.types {
		add(t, str(t["caption"]))
	}
	for _, a := range s.dict {
		add(a, str(a["caption"]))
	}
	for _, defs := range []map[string]obj{s.objects, s.events} {
		for _, o := range defs {
			add(o, str(o["caption"]))
			attrs, _ := o["attributes"].(obj)
			for name, a := range attrs {
				if a, ok := a.(obj); ok {
					add(a, str(o["caption"])+": "+name)
				}
			}
			obsMap, _ := o["observables"].(obj)
			for path, id := range obsMap {
				s.observable[strconv.Itoa(toInt(id))] = str(o["caption"]) + ": " + path
			}
		}
	}
	s.observable["0"], s.observable["99"] = "Unknown", "Other"
}

// resolved returns a definition's attributes and constraints after its
// extends chain and includes: the parent's first, then the included files',
// then its own, each deep-merged over the previous.
func (s *schema) resolved(def obj, lookup map[string]obj, seen map[string]bool) (map[string]obj, obj, error) {
	name := str(def["name"])
	if seen[name] {
		return nil, nil, fmt.Errorf("%s extends itself", name)
	}
	seen[name] = true
	attrs := map[string]obj{}
	var constraints obj
	if ext := str(def["extends"]); ext != "" {
		parent, ok := lookup[ext]
		if !ok {
			return nil, nil, fmt.Errorf("%s extends %s, which does not exist", name, ext)
		}
		pa, pc, err := s.resolved(parent, lookup, seen)
		if err != nil {
			return nil, nil, err
		}
		attrs, constraints = pa, pc
	}
	own, _ := def["attributes"].(obj)
	if inc, ok := own["$include"].([]any); ok {
		for _, p := range inc {
			var f struct {
				Name       string
				Attributes obj
			}
			if err := readJSON(s.fsys, str(p), &f); err != nil {
				return nil, nil, fmt.Errorf("%s includes %s: %w", name, p, err)
			}
			if strings.HasPrefix(str(p), "profiles/") {
				// A profile's attributes belong to the profile: required
				// only when an event declares it (see objectSchema).
				for k, a := range f.Attributes {
					if a, ok := a.(obj); ok {
						if _, set := a["profile"]; !set {
							a["profile"] = f.Name
						}
						f.Attributes[k] = a
					}
				}
			}
			mergeAttrs(attrs, f.Attributes)
		}
	}
	mergeAttrs(attrs, own)
	if c, ok := def["constraints"].(obj); ok {
		constraints = c
	}
	return attrs, constraints, nil
}

func mergeAttrs(into map[string]obj, from obj) {
	for k, v := range from {
		a, ok := v.(obj)
		if !ok || k == "$include" {
			continue
		}
		into[k] = deepMerge(into[k], a)
	}
}

// deepMerge returns base with over merged in; maps merge key by key, other
// values of over replace base's.
func deepMerge(base, over obj) obj {
	out := maps.Clone(base)
	if out == nil {
		out = obj{}
	}
	for k, v := range over {
		if vm, ok := v.(obj); ok {
			if bm, ok := out[k].(obj); ok {
				out[k] = deepMerge(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func (s *schema) classSchema(name string) ([]byte, error) {
	def, ok := s.events[name]
	if !ok || def["uid"] == nil {
		return nil, fmt.Errorf("no class %q", name)
	}
	catName := str(def["category"])
	for d := def; catName == "" && d != nil; {
		d = s.events[str(d["extends"])]
		catName = str(d["category"])
	}
	category, ok := s.categories[catName]
	if !ok {
		return nil, fmt.Errorf("class %s: unknown category %q", name, def["category"])
	}
	classUID := category*1000 + toInt(def["uid"])
	s.defs = map[string]obj{}
	body, err := s.objectSchema(def, s.events, name)
	if err != nil {
		return nil, err
	}
	props := body["properties"].(obj)
	props["class_uid"] = obj{"type": "integer", "const": classUID}
	props["category_uid"] = obj{"type": "integer", "const": category}
	activities, _ := props["activity_id"].(obj)["enum"].([]any)
	var typeUIDs []any
	for _, a := range activities {
		typeUIDs = append(typeUIDs, classUID*100+a.(int))
	}
	props["type_uid"] = obj{"type": "integer", "enum": typeUIDs}
	doc := obj{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://schema.ocsf.io/schema/" + s.version + "/classes/" + name + ".json",
		"title":       fmt.Sprintf("OCSF %s %s (class_uid %d)", s.version, def["caption"], classUID),
		"description": fmt.Sprintf("Generated by internal/ocsfgen from the OCSF schema repository at v%s; do not edit.", s.version),
	}
	maps.Copy(doc, body)
	doc["$defs"] = s.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// objectSchema is the JSON Schema of a class or object definition.
func (s *schema) objectSchema(def obj, lookup map[string]obj, name string) (obj, error) {
	attrs, constraints, err := s.resolved(def, lookup, map[string]bool{})
	if err != nil {
		return nil, err
	}
	props := obj{}
	var required []string
	byProfile := map[string][]string{}
	for _, an := range slices.Sorted(maps.Keys(attrs)) {
		a := deepMerge(s.dict[an], attrs[an])
		if a["type"] == nil {
			return nil, fmt.Errorf("%s.%s: attribute has no type (not in the dictionary?)", name, an)
		}
		if name == "observable" && an == "type_id" {
			a = deepMerge(a, obj{"enum": enumOf(s.observable)})
		}
		p, err := s.attrSchema(a, name+"."+an)
		if err != nil {
			return nil, err
		}
		props[an] = p
		if str(a["requirement"]) != "required" {
			continue
		}
		if prof := str(a["profile"]); prof != "" {
			byProfile[prof] = append(byProfile[prof], an)
		} else {
			required = append(required, an)
		}
	}
	out := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	var all []any
	for kind, keyword := range map[string]string{"at_least_one": "anyOf", "just_one": "oneOf"} {
		list, _ := constraints[kind].([]any)
		if len(list) == 0 {
			continue
		}
		var alts []any
		for _, a := range list {
			alts = append(alts, obj{"required": []any{a}})
		}
		all = append(all, obj{keyword: alts})
	}
	if _, isEvent := props["metadata"]; isEvent {
		// An event that declares a profile in metadata.profiles must carry
		// the profile's required attributes.
		for _, prof := range slices.Sorted(maps.Keys(byProfile)) {
			all = append(all, obj{
				"if": obj{
					"required":   []any{"metadata"},
					"properties": obj{"metadata": obj{"required": []any{"profiles"}, "properties": obj{"profiles": obj{"contains": obj{"const": prof}}}}},
				},
				"then": obj{"required": byProfile[prof]},
			})
		}
	}
	sort.Slice(all, func(i, j int) bool { return fmt.Sprint(all[i]) < fmt.Sprint(all[j]) })
	if len(all) > 0 {
		out["allOf"] = all
	}
	return out, nil
}

func enumOf(m map[string]string) obj {
	out := obj{}
	for k, v := range m {
		out[k] = obj{"caption": v}
	}
	return out
}

// attrSchema is the JSON Schema of one resolved attribute.
func (s *schema) attrSchema(a obj, where string) (obj, error) {
	typ := str(a["type"])
	var item obj
	switch {
	case !strings.HasSuffix(typ, "_t"):
		ref, err := s.ref(typ, where)
		if err != nil {
			return nil, err
		}
		item = ref
	default:
		t, err := s.scalar(typ, where)
		if err != nil {
			return nil, err
		}
		item = t
		if e, ok := a["enum"].(obj); ok && len(e) > 0 {
			var vals []any
			for _, k := range slices.Sorted(maps.Keys(e)) {
				if item["type"] == "integer" {
					n, err := strconv.Atoi(k)
					if err != nil {
						return nil, fmt.Errorf("%s: enum key %q is not an integer", where, k)
					}
					vals = append(vals, n)
				} else {
					vals = append(vals, k)
				}
			}
			sort.Slice(vals, func(i, j int) bool { return fmt.Sprint(vals[i]) < fmt.Sprint(vals[j]) })
			if item["type"] == "integer" {
				sort.Slice(vals, func(i, j int) bool { return vals[i].(int) < vals[j].(int) })
			}
			item["enum"] = vals
		}
	}
	if a["is_array"] == true {
		return obj{"type": "array", "items": item}, nil
	}
	return item, nil
}

// scalar resolves a scalar type, derived types down to their base type.
func (s *schema) scalar(typ, where string) (obj, error) {
	out := obj{}
	for depth := 0; ; depth++ {
		if depth > 8 {
			return nil, fmt.Errorf("%s: type %s does not resolve", where, typ)
		}
		switch typ {
		case "string_t":
			out["type"] = "string"
			return out, nil
		case "integer_t", "long_t":
			out["type"] = "integer"
			return out, nil
		case "float_t":
			out["type"] = "number"
			return out, nil
		case "boolean_t":
			out["type"] = "boolean"
			return out, nil
		case "json_t":
			return obj{}, nil // any JSON value
		}
		t, ok := s.types[typ]
		if !ok {
			return nil, fmt.Errorf("%s: unknown type %s", where, typ)
		}
		if re, ok := t["regex"].(string); ok && out["pattern"] == nil {
			if _, err := regexp.Compile(re); err == nil {
				out["pattern"] = re
			}
		}
		if n, ok := t["max_len"]; ok && out["maxLength"] == nil {
			out["maxLength"] = toInt(n)
		}
		if r, ok := t["range"].([]any); ok && len(r) == 2 && out["minimum"] == nil {
			out["minimum"], out["maximum"] = toInt(r[0]), toInt(r[1])
		}
		next := str(t["type"])
		if next == "" {
			next = typ // a base type described in types (e.g. float_t)
			switch typ {
			case "bytestring_t", "datetime_t":
				next = "string_t"
			}
			if next == typ {
				return nil, fmt.Errorf("%s: type %s has no base type", where, typ)
			}
		}
		typ = next
	}
}

// ref returns a reference to the $defs entry of an object, building it.
func (s *schema) ref(name, where string) (obj, error) {
	if name == "object" {
		return obj{"type": "object"}, nil // the generic object: anything
	}
	if _, ok := s.defs[name]; !ok {
		def, ok := s.objects[name]
		if !ok {
			return nil, fmt.Errorf("%s: unknown object %s", where, name)
		}
		s.defs[name] = obj{} // placeholder: objects refer to each other
		body, err := s.objectSchema(def, s.objects, name)
		if err != nil {
			return nil, err
		}
		s.defs[name] = body
	}
	return obj{"$ref": "#/$defs/" + name}, nil
}

func readJSON(fsys fs.FS, p string, v any) error {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func toInt(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return 0
}
