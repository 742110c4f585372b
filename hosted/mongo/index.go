package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// indexTries bounds ensureIndexes' rounds: a round that fails because
// another edge was creating the same index at the same moment (which
// FerretDB answers by dropping the connection) is followed by one that
// finds it made.
const indexTries = 4

// An index is one index a collection needs, and its name.
type index struct {
	name  string
	model mongo.IndexModel
}

// indexesOf returns the indexes c needs, each named explicitly with the
// name the driver would give it, so that databases indexed before names
// were set keep theirs.
func indexesOf(op string, c hosted.Collection) ([]index, error) {
	var out []index
	add := func(keys bson.D, unique bool) {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s_%v", k.Key, k.Value)
		}
		name := strings.Join(parts, "_")
		o := options.Index().SetName(name)
		if unique {
			o.SetUnique(true)
		}
		out = append(out, index{name, mongo.IndexModel{Keys: keys, Options: o}})
	}
	for _, name := range c.Unique {
		if err := checkKeyName(op, name); err != nil {
			return nil, err
		}
		// Scans of a unique key sort on the key alone (see Query), so this
		// index serves them too.
		add(bson.D{{Key: field(name), Value: 1}}, true)
	}
	for _, name := range c.Index {
		if err := checkKeyName(op, name); err != nil {
			return nil, err
		}
		add(bson.D{{Key: field(name), Value: 1}, {Key: "_id", Value: 1}}, false)
	}
	return out, nil
}

// ensureIndexes creates those of want that coll lacks, one createIndexes
// command per index. It lists what exists first, so that an edge starting
// on an indexed database (a restart, or a second edge) writes nothing:
// FerretDB v1 drops the connection when asked, in one command, for several
// indexes that exist already. An index another edge made in the meantime
// counts as made.
func ensureIndexes(ctx context.Context, coll *mongo.Collection, want []index) error {
	var err error
	for try := 0; try < indexTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (after %v)", ctx.Err(), err)
			case <-time.After(time.Duration(try) * 100 * time.Millisecond):
			}
		}
		if err = createMissing(ctx, coll, want); err == nil {
			return nil
		}
	}
	return err
}

func createMissing(ctx context.Context, coll *mongo.Collection, want []index) error {
	have, err := indexNames(ctx, coll)
	if err != nil {
		return err
	}
	for _, ix := range want {
		if have[ix.name] {
			continue
		}
		if _, err := coll.Indexes().CreateOne(ctx, ix.model); err != nil && !indexExists(err) {
			return fmt.Errorf("index %s: %w", ix.name, err)
		}
	}
	return nil
}

// indexNames lists the names of coll's indexes; a collection that does not
// exist yet has none.
func indexNames(ctx context.Context, coll *mongo.Collection) (map[string]bool, error) {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		var se mongo.ServerError
		if errors.As(err, &se) && se.HasErrorCode(codeNamespaceNotFound) {
			return map[string]bool{}, nil
		}
		return nil, err
	}
	have := make(map[string]bool, len(specs))
	for _, s := range specs {
		have[s.Name] = true
	}
	return have, nil
}

// Server error codes the store tells apart.
const (
	codeNamespaceNotFound     = 26
	codeIndexOptionsConflict  = 85
	codeIndexKeySpecsConflict = 86
	codeIndexAlreadyExists    = 68
)

// indexExists reports whether err says the index is there already, under
// this name or with these keys: another edge made it first.
func indexExists(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	return se.HasErrorCode(codeIndexAlreadyExists) || se.HasErrorCode(codeIndexOptionsConflict) ||
		se.HasErrorCode(codeIndexKeySpecsConflict) || strings.Contains(se.Error(), "already exists")
}

// checkKeyName rejects key names that MongoDB would read as a path or an
// operator. Key names are declared in code, so this only catches a bug.
func checkKeyName(op, name string) error {
	if name == "" || strings.ContainsAny(name, ".\x00") || name[0] == '$' {
		return fault.Newf(op, fault.Invalid, "key name %q cannot be stored in MongoDB", name)
	}
	return nil
}
