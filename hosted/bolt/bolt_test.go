package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"entrepot/hosted"
	"entrepot/hosted/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hosted.Store {
		s, err := Open(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestPeers: a bbolt file admits one process, so its "edges" are the
// goroutines of one, sharing the one Store.
func TestPeers(t *testing.T) {
	storetest.RunPeers(t, func(t *testing.T, n int) []hosted.Store {
		s, err := Open(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		peers := make([]hosted.Store, n)
		for i := range peers {
			peers[i] = s
		}
		return peers
	})
}

// TestUpgradeFormat1: a file whose index entries hold raw values (format
// 1, before values were escaped) scans correctly once opened.
func TestUpgradeFormat1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	c := hosted.Collection{Name: "things", Index: []string{"owner"}}
	values := []string{"o\x00b", "o", "o\x00a\x00z", "p"}
	// Lay out a format 1 file by hand: records, and raw index entries.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		d, _ := tx.CreateBucket(dataBucket(c))
		i, _ := tx.CreateBucket(indexBucket(c, "owner"))
		for n, v := range values {
			id := fmt.Sprint("id", n)
			if err := d.Put([]byte(id), encode(hosted.Record{ID: id, Rev: 1, Keys: map[string]string{"owner": v}})); err != nil {
				return err
			}
			if err := i.Put([]byte(v+"\x00"+id), nil); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second open finds the file upgraded already
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rs, _, err := s.Query(ctx, c, hosted.Query{Key: "owner", Prefix: "o"})
		s.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if fmt.Sprint(got) != "[id1 id2 id0]" {
			t.Fatalf("after the upgrade: %v, want [id1 id2 id0]", got)
		}
	}
}
