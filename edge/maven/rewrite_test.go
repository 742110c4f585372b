package maven

import (
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/hosted/fault"
)

func at(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return tm
}

var stored = []StoredFile{
	{Version: "1.10.0", Extension: "jar", Uploaded: at("2024-03-01T10:00:00Z")},
	{Version: "1.10.0", Extension: "pom", Uploaded: at("2024-03-01T10:00:00Z")},
	{Version: "1.9.0", Extension: "jar", Uploaded: at("2024-02-01T10:00:00Z")},
	{Version: "2.0.0-rc1", Extension: "pom", Uploaded: at("2024-03-02T10:00:00Z")},
	{Version: "2.0.0-SNAPSHOT", Extension: "pom", Timestamp: "20240303.100000", Build: 1, Uploaded: at("2024-03-03T10:00:00Z")},
	{Version: "2.0.0-SNAPSHOT", Extension: "jar", Timestamp: "20240303.100000", Build: 1, Uploaded: at("2024-03-03T10:00:00Z")},
	{Version: "2.0.0-SNAPSHOT", Extension: "jar", Timestamp: "20240304.110000", Build: 2, Uploaded: at("2024-03-04T11:00:01Z")},
	{Version: "2.0.0-SNAPSHOT", Classifier: "sources", Extension: "jar", Timestamp: "20240304.110000", Build: 2, Uploaded: at("2024-03-04T11:00:02Z")},
	{Version: "2.0.0-SNAPSHOT", Extension: "pom", Timestamp: "20240304.110000", Build: 2, Uploaded: at("2024-03-04T11:00:01Z")},
}

func TestArtifactMetadata(t *testing.T) {
	testkit.Golden(t, "testdata/artifact-metadata.xml", ArtifactMetadata("com.acme", "lib", stored))
}

func TestSnapshotMetadata(t *testing.T) {
	testkit.Golden(t, "testdata/snapshot-metadata.xml", SnapshotMetadata("com.acme", "lib", "2.0.0-SNAPSHOT", stored))
}

func TestReconcile(t *testing.T) {
	cases := []struct {
		name, doc, version string
		ok                 bool
	}{
		{"own document", string(ArtifactMetadata("com.acme", "lib", stored)), "", true},
		{"a subset", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><versioning><latest>1.9.0</latest><versions><version>1.9.0</version></versions></versioning></metadata>`, "", true},
		{"own snapshot document", string(SnapshotMetadata("com.acme", "lib", "2.0.0-SNAPSHOT", stored)), "2.0.0-SNAPSHOT", true},
		{"unknown version", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><versioning><versions><version>3.0</version></versions></versioning></metadata>`, "", false},
		{"unknown release", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><versioning><release>3.0</release></versioning></metadata>`, "", false},
		{"unknown build", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><version>2.0.0-SNAPSHOT</version><versioning><snapshotVersions><snapshotVersion><extension>jar</extension><value>2.0.0-20240305.100000-3</value></snapshotVersion></snapshotVersions></versioning></metadata>`, "2.0.0-SNAPSHOT", false},
		{"other artifact", `<metadata><groupId>com.acme</groupId><artifactId>other</artifactId></metadata>`, "", false},
		{"malformed", `<metadata><groupId>com.acme`, "", false},
		{"trailing content", `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId></metadata><metadata/>`, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Reconcile([]byte(c.doc), "com.acme", "lib", c.version, stored)
			if c.ok && err != nil {
				t.Fatal(err)
			}
			if !c.ok && !fault.Is(err, fault.Invalid) {
				t.Fatalf("got %v, want Invalid", err)
			}
		})
	}
}

func TestCheckPOM(t *testing.T) {
	cases := []struct {
		name, pom string
		ok        bool
	}{
		{"own coordinates", `<project><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0</version></project>`, true},
		{"namespaced", `<project xmlns="http://maven.apache.org/POM/4.0.0"><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0</version></project>`, true},
		{"inherited", `<project><parent><groupId>com.acme</groupId><artifactId>parent</artifactId><version>1.0</version></parent><artifactId>lib</artifactId></project>`, true},
		{"other group", `<project><groupId>com.evil</groupId><artifactId>lib</artifactId><version>1.0</version></project>`, false},
		{"other version", `<project><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.1</version></project>`, false},
		{"unresolved property", `<project><groupId>com.acme</groupId><artifactId>lib</artifactId><version>${revision}</version></project>`, false},
		{"malformed", `<project><groupId>com.acme</groupId>`, false},
		{"not a POM", `<metadata/>`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckPOM([]byte(c.pom), "com.acme", "lib", "1.0")
			if c.ok != (err == nil) {
				t.Fatalf("CheckPOM: %v, want ok=%v", err, c.ok)
			}
		})
	}
}
