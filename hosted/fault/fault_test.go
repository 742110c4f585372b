package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"entrepot/hosted/fault"
)

// TestConstructors: each constructor's kind, message and cause, and what
// a nil cause gives: nil for Wrap and Op (they pass an outcome through),
// an error for WrapMsg (its message states a failure).
func TestConstructors(t *testing.T) {
	cause := errors.New("disk on fire")
	for _, tc := range []struct {
		name    string
		err     error
		nilErr  bool
		kind    fault.Kind
		message string
		cause   error
	}{
		{name: "New", err: fault.New("op", fault.Invalid, "bad name"), kind: fault.Invalid, message: "bad name"},
		{name: "Newf", err: fault.Newf("op", fault.NotFound, "no %s", "x"), kind: fault.NotFound, message: "no x"},
		{name: "Wrap", err: fault.Wrap("op", fault.Unavailable, cause), kind: fault.Unavailable, cause: cause},
		{name: "Wrap of nil", err: fault.Wrap("op", fault.Unavailable, nil), nilErr: true},
		{name: "WrapMsg", err: fault.WrapMsg("op", fault.Upstream, "upstream failed", cause), kind: fault.Upstream, message: "upstream failed", cause: cause},
		{name: "WrapMsg of nil", err: fault.WrapMsg("op", fault.Invalid, "invalid JSON body", nil), kind: fault.Invalid, message: "invalid JSON body"},
		{name: "Op keeps the kind", err: fault.Op("outer", fault.New("inner", fault.Conflict, "taken")), kind: fault.Conflict, message: "taken"},
		{name: "Op of nil", err: fault.Op("op", nil), nilErr: true},
		{name: "a deadline is Unavailable", err: fmt.Errorf("x: %w", context.DeadlineExceeded), kind: fault.Unavailable},
		{name: "an unclassified error is Internal", err: cause, kind: fault.Internal, cause: cause},
		{name: "Internal shows no message", err: fault.WrapMsg("op", fault.Internal, "secret detail", cause), kind: fault.Internal, cause: cause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.nilErr {
				if tc.err != nil {
					t.Fatalf("got %v, want nil", tc.err)
				}
				return
			}
			if tc.err == nil {
				t.Fatal("got nil, want an error")
			}
			if k := fault.KindOf(tc.err); k != tc.kind || !fault.Is(tc.err, tc.kind) {
				t.Fatalf("kind %v, want %v", k, tc.kind)
			}
			if m := fault.Message(tc.err); m != tc.message {
				t.Fatalf("message %q, want %q", m, tc.message)
			}
			if tc.cause != nil && !errors.Is(tc.err, tc.cause) {
				t.Fatalf("%v does not wrap its cause", tc.err)
			}
		})
	}
	if fault.Is(nil, fault.Internal) {
		t.Fatal("nil is no error of any kind")
	}
}
