package api

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"entrepot/edge"
)

// TestOpenAPIDocumentsTheTable checks that every registered route (Mount
// registers exactly the table) is in the document with its method, its
// path parameters and its query parameters, that the document holds
// nothing else, and that every $ref resolves.
func TestOpenAPIDocumentsTheTable(t *testing.T) {
	h := New((&edge.Registry{}).Init(), Options{})
	var doc map[string]any
	if err := json.Unmarshal(h.openapi, &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, rt := range h.routes {
		key := rt.method + " " + rt.path
		if seen[key] {
			t.Errorf("%s registered twice", key)
		}
		seen[key] = true
		if names[rt.name] {
			t.Errorf("route name %s used twice", rt.name)
		}
		names[rt.name] = true
		if rt.summary == "" || rt.tag == "" || rt.h == nil {
			t.Errorf("%s: summary, tag and handler are required", key)
		}
		item, ok := paths[rt.path].(map[string]any)
		if !ok {
			t.Errorf("%s: path not documented", key)
			continue
		}
		op, ok := item[strings.ToLower(rt.method)].(map[string]any)
		if !ok {
			t.Errorf("%s: method not documented", key)
			continue
		}
		if op["operationId"] != rt.name {
			t.Errorf("%s: operationId %v", key, op["operationId"])
		}
		documented := map[string]bool{}
		ps, _ := op["parameters"].([]any)
		for _, p := range ps {
			pm := p.(map[string]any)
			if n, ok := pm["name"].(string); ok {
				documented[n] = true
			} else if ref, ok := pm["$ref"].(string); ok {
				documented[strings.TrimPrefix(ref, "#/components/parameters/")] = true
			}
		}
		for _, m := range regexp.MustCompile(`\{([A-Za-z]+)\}`).FindAllStringSubmatch(rt.path, -1) {
			if !documented[m[1]] {
				t.Errorf("%s: path parameter %s not documented", key, m[1])
			}
		}
		for _, q := range rt.query {
			if !documented[q] {
				t.Errorf("%s: query parameter %s not documented", key, q)
			}
		}
	}
	for path, item := range paths {
		for method := range item.(map[string]any) {
			if !seen[strings.ToUpper(method)+" "+path] {
				t.Errorf("%s %s documented but not routed", method, path)
			}
		}
	}
	// Every $ref points at a component.
	comps := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				sect, _ := comps[parts[0]].(map[string]any)
				if len(parts) != 2 || sect == nil || sect[parts[1]] == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}
