// Package fault gives every layer of Entrepot one small set of error kinds.
//
// An error is stamped with its kind where the fact is known (an upstream
// timeout is Upstream, a missing blob is NotFound) and carries the operation
// that failed. Protocol packages map kinds onto their own wire format; no
// layer compares error messages.
package fault

import (
	"context"
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds. Internal is the zero value so that an unclassified error is
// never mistaken for the client's fault.
const (
	Internal     Kind = iota // a bug or an unexpected failure: the client sees a request id only
	Invalid                  // malformed input
	Unauthorized             // no or bad credentials
	Forbidden                // authenticated, but not allowed
	NotFound                 // no such thing (or not visible to the caller)
	Conflict                 // exists already, immutable, or lost a race
	TooLarge                 // over a size limit
	RateLimited              // throttled
	Upstream                 // an upstream registry failed or misbehaved
	Unavailable              // a dependency of ours is down or the request timed out
)

var kindNames = [...]string{
	Internal:     "internal",
	Invalid:      "invalid",
	Unauthorized: "unauthorized",
	Forbidden:    "forbidden",
	NotFound:     "not found",
	Conflict:     "conflict",
	TooLarge:     "too large",
	RateLimited:  "rate limited",
	Upstream:     "upstream",
	Unavailable:  "unavailable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is an error with a kind, the operation that failed, a message meant
// for the client and an optional cause meant for the log.
type Error struct {
	Op   string // the operation, "package.Func" or "blob.fs.Commit"
	Kind Kind
	Msg  string // safe to show to the client (never for Internal)
	Err  error  // the cause, for logs and errors.Is/As
}

func (e *Error) Error() string {
	s := e.Op
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a client-facing message.
func New(op string, k Kind, msg string) error {
	return &Error{Op: op, Kind: k, Msg: msg}
}

// Newf is New with formatting.
func Newf(op string, k Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap stamps err with op and kind. A nil err gives nil.
func Wrap(op string, k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Kind: k, Err: err}
}

// WrapMsg is Wrap with a client-facing message. A message states a
// failure, so a nil err gives the error New would, never nil: a caller
// that words a refusal after a check that found no error (JSON null
// decodes without one) still refuses.
func WrapMsg(op string, k Kind, msg string, err error) error {
	return &Error{Op: op, Kind: k, Msg: msg, Err: err}
}

// Op adds op to err keeping the kind err already has. A nil err gives nil.
func Op(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Kind: KindOf(err), Err: err}
}

// KindOf returns the kind of the outermost classified error in err's chain.
// Context cancellation and deadlines count as Unavailable; anything else
// unclassified is Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		// An Op-only wrapper copies its kind, so the outermost one is right.
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Unavailable
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// Message returns the outermost client-facing message in err's chain, or ""
// when there is none. Internal errors never expose one.
func Message(err error) string {
	if KindOf(err) == Internal {
		return ""
	}
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
	}
	return ""
}
