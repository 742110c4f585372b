package hosted

import (
	"context"
	"encoding/json"

	"entrepot/hosted/fault"
)

// GetJSON reads the record id of c and decodes its body into v.
func GetJSON(ctx context.Context, s Store, c Collection, id string, v any) (Record, error) {
	r, err := s.Get(ctx, c, id)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return r, fault.Wrap("hosted.GetJSON", fault.Internal, err)
	}
	return r, nil
}

// CreateJSON stores v as a new record.
func CreateJSON(ctx context.Context, s Store, c Collection, id string, keys map[string]string, v any) (Record, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return Record{}, fault.Wrap("hosted.CreateJSON", fault.Internal, err)
	}
	return s.Create(ctx, c, Record{ID: id, Keys: keys, Data: data})
}

// maxUpdateTries bounds Update's optimistic retries; past it the record is
// too hot to update and the caller gets the Conflict.
const maxUpdateTries = 64

// Update reads the record id of c into a T, lets fn change it and its keys,
// and writes it back if nobody wrote in between, retrying otherwise. fn may
// run several times and must not have side effects; an error from fn stops
// the update and is returned as is.
func Update[T any](ctx context.Context, s Store, c Collection, id string, fn func(v *T, keys map[string]string) error) (T, error) {
	var zero T
	var err error
	for try := 0; try < maxUpdateTries; try++ {
		var r Record
		r, err = s.Get(ctx, c, id)
		if err != nil {
			return zero, err
		}
		var v T
		if err = json.Unmarshal(r.Data, &v); err != nil {
			return zero, fault.Wrap("hosted.Update", fault.Internal, err)
		}
		if r.Keys == nil {
			r.Keys = map[string]string{}
		}
		if err = fn(&v, r.Keys); err != nil {
			return zero, err
		}
		if r.Data, err = json.Marshal(v); err != nil {
			return zero, fault.Wrap("hosted.Update", fault.Internal, err)
		}
		if _, err = s.Replace(ctx, c, r, r.Rev); err == nil {
			return v, nil
		}
		if !fault.Is(err, fault.Conflict) {
			return zero, err
		}
		if err := ctx.Err(); err != nil {
			return zero, fault.Wrap("hosted.Update", fault.Unavailable, err)
		}
	}
	return zero, err
}
