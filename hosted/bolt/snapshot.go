package bolt

import (
	"io"

	bbolt "go.etcd.io/bbolt"

	"entrepot/hosted/fault"
)

// Snapshot writes a consistent copy of the whole database file to w, as
// one read transaction sees it, while writers go on (bbolt's Tx.WriteTo).
// size is called first with the copy's length, so that a receiver can
// tell a complete copy from a cut one.
func (s *Store) Snapshot(w io.Writer, size func(int64) error) error {
	err := s.db.View(func(tx *bbolt.Tx) error {
		if err := size(tx.Size()); err != nil {
			return err
		}
		_, err := tx.WriteTo(w)
		return err
	})
	return fault.Op("bolt.Snapshot", err)
}
