package mongo

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// formatsName is the collection that records, per collection, that its
// key values are stored escaped: {_id: collection name}.
const formatsName = "store_formats"

// upgradeKeys escapes the key values that a Store before escaping wrote
// raw into coll (a raw value with a NUL, which a query for its escaped
// form would no longer find), once per database: then it records the
// collection in formatsName, and later calls cost one lookup. Edges of
// both kinds must not write to one database at once: an old one would go
// on writing raw values. (A raw value with a \x01 but no NUL would be
// left as it is and read wrong; Entrepot never wrote one.)
//
// Each rewrite is a Replace of the record as it is, under the revision
// check (and on FerretDB its lock), so a record that another edge writes
// meanwhile is left to that write, whose values are escaped already.
func (s *Store) upgradeKeys(ctx context.Context, op string, coll *mongo.Collection, c hosted.Collection) error {
	formats := s.db.Collection(formatsName)
	err := formats.FindOne(ctx, bson.D{{Key: "_id", Value: c.Name}}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return wrap(op, err)
	}
	var raw bson.A
	for _, name := range append(append([]string(nil), c.Unique...), c.Index...) {
		raw = append(raw, bson.D{{Key: field(name), Value: bson.Regex{Pattern: `\x00`}}})
	}
	if len(raw) > 0 {
		cur, err := coll.Find(ctx, bson.D{{Key: "$or", Value: raw}})
		if err != nil {
			return wrap(op, err)
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			var d document
			if err := cur.Decode(&d); err != nil {
				return wrap(op, err)
			}
			rev := d.Rev
			for name, v := range d.Keys {
				d.Keys[name] = hosted.EscapeKey(v)
			}
			d.Rev++
			err := s.writeRevision(ctx, op, coll, c.Name, d.ID, rev, func(ctx context.Context) (bool, error) {
				res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "r", Value: rev}}, d.bson())
				if err != nil {
					return false, wrap(op, err)
				}
				return res.MatchedCount == 1, nil
			})
			if err != nil && !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
				return err
			}
		}
		if err := cur.Err(); err != nil {
			return wrap(op, err)
		}
	}
	if _, err := formats.InsertOne(ctx, bson.D{{Key: "_id", Value: c.Name}}); err != nil && !isDuplicate(err) {
		return wrap(op, err)
	}
	return nil
}
