package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile parses deploy/compose.yaml and holds it to the binary:
// every variable it gives an Entrepot edge is a setting of settings()
// (the one table `entrepot serve` reads), the values, with the .env
// placeholders filled, pass loadConfig, there are two edges behind the
// load balancer, and the bucket the edges use is created before they
// start.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string
			Environment map[string]string
			Entrypoint  []string
			Command     any
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
		}
		Configs map[string]struct{ Content string }
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.env] = true
	}
	// ${VAR:?message} and ${VAR:-default} as compose fills them from .env.
	placeholder := regexp.MustCompile(`\$\{([A-Z_]+)(:[?-][^}]*)?\}`)
	sample := map[string]string{
		"JWT_SECRET": randomHex(32), "AUTH_ENCRYPTION_KEY": randomHex(32), "ADMIN_PASSWORD": randomHex(16),
		"MINIO_ROOT_USER": "entrepot", "MINIO_ROOT_PASSWORD": randomHex(16),
	}
	var edges []string
	for name, svc := range doc.Services {
		if !strings.Contains(svc.Image, "entrepot") {
			continue
		}
		edges = append(edges, name)
		env := map[string]string{}
		for k, v := range svc.Environment {
			if !known[k] {
				t.Errorf("%s sets %s, which entrepot does not read", name, k)
			}
			env[k] = placeholder.ReplaceAllStringFunc(v, func(m string) string {
				sub := placeholder.FindStringSubmatch(m)
				if s, ok := sample[sub[1]]; ok {
					return s
				}
				return strings.TrimPrefix(sub[2], ":-")
			})
		}
		if _, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
			t.Errorf("%s: its environment does not configure entrepot: %v", name, err)
		}
		if env["MONGODB_URL"] == "" || env["S3_ENDPOINT"] == "" {
			t.Errorf("%s is not on MongoDB and S3: %v", name, env)
		}
		if svc.DependsOn["bucket"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for the bucket to be created", name)
		}
	}
	if len(edges) < 2 {
		t.Fatalf("edges %v, want two behind the load balancer", edges)
	}
	lb := doc.Configs["nginx"].Content
	for _, e := range edges {
		if !strings.Contains(lb, "server "+e+":3000;") {
			t.Errorf("the load balancer does not send to %s:\n%s", e, lb)
		}
	}
	bucket := doc.Services[edges[0]].Environment["S3_BUCKET"]
	init, _ := yaml.Marshal(doc.Services["bucket"].Command)
	if !strings.Contains(string(init), "mc mb --ignore-existing local/"+bucket) {
		t.Errorf("the bucket service does not create %q: %s", bucket, init)
	}
	for _, s := range []string{"mongo", "minio", "lb"} {
		if _, ok := doc.Services[s]; !ok {
			t.Errorf("no %s service", s)
		}
	}
}
