package rubygems

import (
	"encoding/binary"
	"time"
)

// marshaller writes Ruby's Marshal format 4.8, the little of it that
// RubyGems reads: nil, booleans, integers, strings, symbols, arrays,
// hashes, plain objects (type 'o'), marshal_dump objects ('U') and _dump
// objects ('u'). It never writes object or symbol links: Marshal.load
// accepts every value written out in full, and our documents are small.
//
// The zero value is ready; Bytes returns what was written, version header
// included.
type marshaller struct{ b []byte }

func newMarshaller() *marshaller { return &marshaller{b: []byte{4, 8}} }

func (m *marshaller) Bytes() []byte { return m.b }

func (m *marshaller) Nil() { m.b = append(m.b, '0') }

func (m *marshaller) Bool(v bool) {
	if v {
		m.b = append(m.b, 'T')
	} else {
		m.b = append(m.b, 'F')
	}
}

// Int writes a Fixnum (Ruby's immediate integers fit in 30 bits for
// Marshal's 'i'; larger values are not needed by RubyGems documents).
func (m *marshaller) Int(v int) {
	m.b = append(m.b, 'i')
	m.long(v)
}

// long is Marshal's w_long: a compact signed integer.
func (m *marshaller) long(v int) {
	switch {
	case v == 0:
		m.b = append(m.b, 0)
	case 0 < v && v < 123:
		m.b = append(m.b, byte(v+5))
	case -124 < v && v < 0:
		m.b = append(m.b, byte((v-5)&0xff))
	default:
		var buf [8]byte
		n := 0
		x := v
		for i := 0; i < 4; i++ {
			buf[i] = byte(x & 0xff)
			x >>= 8
			n++
			if (v >= 0 && x == 0) || (v < 0 && x == -1) {
				break
			}
		}
		if v < 0 {
			m.b = append(m.b, byte(-n))
		} else {
			m.b = append(m.b, byte(n))
		}
		m.b = append(m.b, buf[:n]...)
	}
}

func (m *marshaller) bytes(s string) {
	m.long(len(s))
	m.b = append(m.b, s...)
}

// Symbol writes a symbol in full.
func (m *marshaller) Symbol(s string) {
	m.b = append(m.b, ':')
	m.bytes(s)
}

// String writes a UTF-8 string (a String with the encoding ivar E=true).
func (m *marshaller) String(s string) {
	m.b = append(m.b, 'I', '"')
	m.bytes(s)
	m.long(1)
	m.Symbol("E")
	m.Bool(true)
}

// Binary writes an ASCII-8BIT string (no encoding ivar).
func (m *marshaller) Binary(s string) {
	m.b = append(m.b, '"')
	m.bytes(s)
}

// StringOrNil writes nil for "", else the string.
func (m *marshaller) StringOrNil(s string) {
	if s == "" {
		m.Nil()
		return
	}
	m.String(s)
}

// Array starts an array of n elements; the caller writes them next.
func (m *marshaller) Array(n int) {
	m.b = append(m.b, '[')
	m.long(n)
}

// Hash starts a hash of n pairs; the caller writes key, value, ... next.
func (m *marshaller) Hash(n int) {
	m.b = append(m.b, '{')
	m.long(n)
}

// Object starts a plain object of class with n instance variables; the
// caller writes Symbol("@name"), value, ... next.
func (m *marshaller) Object(class string, n int) {
	m.b = append(m.b, 'o')
	m.Symbol(class)
	m.long(n)
}

// UserMarshal starts an object loaded by class#marshal_load; the caller
// writes the dumped value next.
func (m *marshaller) UserMarshal(class string) {
	m.b = append(m.b, 'U')
	m.Symbol(class)
}

// UserDefined writes an object loaded by class._load(data).
func (m *marshaller) UserDefined(class string, data []byte) {
	m.b = append(m.b, 'u')
	m.Symbol(class)
	m.bytes(string(data))
}

// Time writes a UTC Time with second resolution, as Time#_dump does.
func (m *marshaller) Time(t time.Time) {
	t = t.UTC()
	p := uint32(1)<<31 | uint32(1)<<30 | uint32(t.Year()-1900)<<14 |
		uint32(t.Month()-1)<<10 | uint32(t.Day())<<5 | uint32(t.Hour())
	s := uint32(t.Minute())<<26 | uint32(t.Second())<<20
	var buf [8]byte
	binary.LittleEndian.PutUint32(buf[:4], p)
	binary.LittleEndian.PutUint32(buf[4:], s)
	m.UserDefined("Time", buf[:])
}

// GemVersion writes a Gem::Version.
func (m *marshaller) GemVersion(v string) {
	m.UserMarshal("Gem::Version")
	m.Array(1)
	m.String(v)
}

// GemRequirement writes a Gem::Requirement of (operator, version) pairs.
func (m *marshaller) GemRequirement(reqs []Req) {
	if len(reqs) == 0 {
		reqs = []Req{{Op: ">=", Version: "0"}}
	}
	m.UserMarshal("Gem::Requirement")
	m.Array(1)
	m.Array(len(reqs))
	for _, r := range reqs {
		m.Array(2)
		m.String(r.Op)
		m.GemVersion(r.Version)
	}
}
