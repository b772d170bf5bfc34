package server_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// TestOpenAPICoversRoutes holds docs/openapi.yaml to the running server:
// every route the server registers is documented, every documented route
// exists, and the running server routes each documented path and method
// to a handler (not to its 404 or 405 answers).
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue // parameters, summary, ...
			}
			documented[strings.ToUpper(method)+" "+path] = true
			if _, ok := op["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}

	e := setup(t, "sqlite")
	served := map[string]bool{}
	for _, r := range e.srv.Routes() {
		if !isAPIRoute(r.Path) {
			continue // the console's HTML pages: docs/console.md, TestConsoleRouteMatrix
		}
		key := r.Method + " " + r.Path
		served[key] = true
		if !documented[key] {
			t.Errorf("route %s is missing from docs/openapi.yaml", key)
		}
	}
	var keys []string
	for key := range documented {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if !served[key] {
			t.Errorf("docs/openapi.yaml describes %s, which the server does not have", key)
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		path = strings.NewReplacer("{id}", uuid.NewString(), "{order}", "SO-1").Replace(path)
		r := e.do(method, path, req{})
		if r.status == 405 || (r.status == 404 && strings.Contains(string(r.body), "no route")) {
			t.Errorf("%s: the running server does not route it: %d %s", key, r.status, r.body)
		}
	}
	if len(served) < 19 {
		t.Errorf("only %d routes registered", len(served))
	}
}
