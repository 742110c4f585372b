package api_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPIPathsAreRouted walks the served document and calls every
// operation it lists: none may fall through to the router's "no route" or
// "method not allowed". (TestOpenAPIDocumentsTheTable checks the other
// direction: every registered route is documented.)
func TestOpenAPIPathsAreRouted(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string
		Paths   map[string]map[string]json.RawMessage
	}
	e.must(200, "GET", "/openapi.json", "", nil, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Paths) < 30 {
		t.Fatalf("document: %s with %d paths", doc.OpenAPI, len(doc.Paths))
	}
	params := regexp.MustCompile(`\{[A-Za-z]+\}`)
	ops := 0
	for path, item := range doc.Paths {
		for method := range item {
			ops++
			p := params.ReplaceAllString(path, "x")
			t.Run(strings.ToUpper(method)+" "+path, func(t *testing.T) {
				r := e.call(strings.ToUpper(method), p, "", nil)
				if r.status == 405 {
					t.Fatalf("not routed: 405 %s", r.body)
				}
				var body struct{ Error struct{ Message string } }
				json.Unmarshal(r.body, &body)
				if r.status == 404 && strings.HasPrefix(body.Error.Message, "no route for") {
					t.Fatalf("not routed: %s", r.body)
				}
			})
		}
	}
	if ops < 45 {
		t.Fatalf("only %d operations documented", ops)
	}
	// And the other way round: a path the table does not hold is the
	// router's 404.
	r := e.call("GET", "/nothing-here", "", nil)
	var body struct{ Error struct{ Message string } }
	json.Unmarshal(r.body, &body)
	if r.status != 404 || !strings.HasPrefix(body.Error.Message, "no route for") {
		t.Fatalf("unrouted path: %d %s", r.status, r.body)
	}
}
