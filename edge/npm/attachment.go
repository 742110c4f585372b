package npm

import (
	"bytes"
	"encoding/base64"
	"io"

	"entrepot/hosted/fault"
)

// splitAttachments reads a publish document from r and returns it with
// the "data" of every entry of its "_attachments" emptied (""), while the
// base64 it held is decoded, as it streams by, into the writer open
// returns for that entry's key (its raw JSON text). So a publish's
// tarball is never held in memory, and the rest of the document, which
// is small, is parsed as before. The document without its attachments
// may be maxDoc bytes (TooLarge past that); data that is not plain
// base64 (a JSON escape other than `\/`, `\n` or `\r`) is Invalid.
//
// The scan follows only the JSON structure it needs (strings, nesting,
// keys); whatever it passes on is parsed by encoding/json, which refuses
// what is malformed.
func splitAttachments(r io.Reader, maxDoc int64, open func(key string) (io.Writer, error)) ([]byte, error) {
	s := splitter{open: open, max: maxDoc}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if perr := s.feed(buf[:n]); perr != nil {
				return nil, perr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if k := fault.KindOf(err); k != fault.Internal {
				return nil, err
			}
			return nil, fault.WrapMsg("npm.splitAttachments", fault.Invalid, "the body did not arrive whole", err)
		}
	}
	if s.data != nil {
		return nil, fault.New("npm.splitAttachments", fault.Invalid, "invalid JSON body: the attachment's data does not end")
	}
	return s.doc, nil
}

type frame struct {
	object  bool
	wantKey bool
	key     []byte // the current key (objects), clipped
}

type splitter struct {
	doc     []byte
	max     int64
	stack   []frame
	inStr   bool
	esc     bool
	isKey   bool
	data    *b64Writer // non-nil while inside an attachment's data
	dataEsc bool
	open    func(key string) (io.Writer, error)
}

const maxKey = 1 << 10

func (s *splitter) emit(b ...byte) error {
	if int64(len(s.doc)+len(b)) > s.max {
		return fault.Newf("npm.splitAttachments", fault.TooLarge, "the publish document without its attachment is over %d bytes", s.max)
	}
	s.doc = append(s.doc, b...)
	return nil
}

func (s *splitter) feed(p []byte) error {
	for len(p) > 0 {
		if s.data != nil {
			n, err := s.feedData(p)
			if err != nil {
				return err
			}
			p = p[n:]
			continue
		}
		c := p[0]
		p = p[1:]
		if err := s.emit(c); err != nil {
			return err
		}
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
				continue
			}
			if s.isKey {
				if f := s.top(); f != nil && len(f.key) < maxKey {
					f.key = append(f.key, c)
				}
			}
			continue
		}
		switch c {
		case '"':
			f := s.top()
			s.inStr, s.esc = true, false
			s.isKey = f != nil && f.object && f.wantKey
			if s.isKey {
				f.key = f.key[:0]
				continue
			}
			if s.atData() {
				w, err := s.open(string(s.stack[1].key))
				if err != nil {
					return err
				}
				s.data = &b64Writer{w: w}
				s.inStr = false
			}
		case '{':
			s.stack = append(s.stack, frame{object: true, wantKey: true})
		case '[':
			s.stack = append(s.stack, frame{})
		case '}', ']':
			if len(s.stack) > 0 {
				s.stack = s.stack[:len(s.stack)-1]
			}
		case ':':
			if f := s.top(); f != nil {
				f.wantKey = false
			}
		case ',':
			if f := s.top(); f != nil && f.object {
				f.wantKey = true
			}
		}
	}
	return nil
}

// atData reports whether a string value starting now is the data of an
// entry of the top-level "_attachments".
func (s *splitter) atData() bool {
	return len(s.stack) == 3 && s.stack[0].object && s.stack[1].object && s.stack[2].object &&
		string(s.stack[0].key) == "_attachments" && string(s.stack[2].key) == "data"
}

func (s *splitter) top() *frame {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

// feedData passes the content of an attachment's data string to its
// decoder, up to and including the closing quote, and returns how much
// of p it took.
func (s *splitter) feedData(p []byte) (int, error) {
	const op = "npm.splitAttachments"
	i := 0
	for i < len(p) {
		if s.dataEsc {
			s.dataEsc = false
			switch p[i] {
			case '/':
				if _, err := s.data.Write([]byte{'/'}); err != nil {
					return 0, err
				}
			case 'n', 'r':
			default:
				return 0, fault.New(op, fault.Invalid, "the attachment's data is not base64")
			}
			i++
			continue
		}
		j := bytes.IndexAny(p[i:], "\"\\")
		if j < 0 {
			_, err := s.data.Write(p[i:])
			return len(p), err
		}
		if _, err := s.data.Write(p[i : i+j]); err != nil {
			return 0, err
		}
		i += j
		if p[i] == '\\' {
			s.dataEsc = true
			i++
			continue
		}
		// The closing quote: the document keeps an empty string.
		err := s.data.Close()
		s.data = nil
		if err != nil {
			return 0, err
		}
		return i + 1, s.emit('"')
	}
	return i, nil
}

// b64Writer decodes standard base64 written to it into w, skipping line
// breaks.
type b64Writer struct {
	w   io.Writer
	in  [4 << 10]byte
	n   int
	out [3 << 10]byte
}

func (b *b64Writer) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' || c == '\r' {
			continue
		}
		b.in[b.n] = c
		if b.n++; b.n == len(b.in) {
			if err := b.flush(); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

func (b *b64Writer) flush() error {
	n, err := base64.StdEncoding.Decode(b.out[:], b.in[:b.n])
	b.n = 0
	if err != nil {
		return fault.WrapMsg("npm.splitAttachments", fault.Invalid, "the attachment is not valid base64", err)
	}
	_, err = b.w.Write(b.out[:n])
	return err
}

// Close decodes what is left; it must be whole base64 quanta.
func (b *b64Writer) Close() error {
	if b.n%4 != 0 {
		return fault.New("npm.splitAttachments", fault.Invalid, "the attachment is not valid base64")
	}
	return b.flush()
}
