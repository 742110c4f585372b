package maven_test

import (
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/alloctest"
	"entrepot/edge/maven"
	"entrepot/upstream"
)

// TestGetAllocs guards Maven's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored maven-metadata.xml and a hosted one,
// and each revalidated. Budgets are the counts last measured (34, 35, 116,
// 116: a hosted maven-metadata.xml is built from the catalog on every
// request, a 304 included; the request's context, edge.Context, is one of
// them) plus one for a background timer's allocation landing in the
// window.
func TestGetAllocs(t *testing.T) {
	up := testkit.NewUpstream(t)
	up.Handle("/org/public/lib/maven-metadata.xml", []byte("<metadata><groupId>org.public</groupId><artifactId>lib</artifactId><versioning><versions><version>1.0</version></versions></versioning></metadata>"))
	client, err := upstream.New("maven", up.URL+"/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := testkit.StartEdge(t, testkit.EdgeOptions{}, func(r *edge.Registry, m *edge.Mux) {
		maven.New(r, client, maven.Options{}).Mount(m.Group("/maven2"))
	})
	auth := []string{"Authorization", "Bearer " + e.Token}
	pom := []byte(`<project><modelVersion>4.0.0</modelVersion><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0</version></project>`)
	if resp, b := e.Do(t, "PUT", "/maven2/com/acme/lib/1.0/lib-1.0.pom", pom, auth...); resp.StatusCode != 201 {
		t.Fatalf("deploy: %d %s", resp.StatusCode, b)
	}
	h := append([]string{"Accept-Encoding", "gzip"}, auth...)
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored metadata", Path: "/maven2/org/public/lib/maven-metadata.xml", Header: h, Budget: 35},
		{Name: "mirrored metadata, revalidated", Path: "/maven2/org/public/lib/maven-metadata.xml", Header: h, Revalidate: true, Budget: 36},
		{Name: "hosted metadata", Path: "/maven2/com/acme/lib/maven-metadata.xml", Header: h, Budget: 119},
		{Name: "hosted metadata, revalidated", Path: "/maven2/com/acme/lib/maven-metadata.xml", Header: h, Revalidate: true, Budget: 119},
	})
}
