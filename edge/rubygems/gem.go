package rubygems

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	"go.yaml.in/yaml/v3"

	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

// maxMetadata bounds the decompressed gemspec and checksums documents.
const maxMetadata = 4 << 20

// readGem reads a .gem archive from r (a plain tar holding metadata.gz,
// data.tar.gz and checksums.yaml.gz, and .sig files when signed) and
// returns its validated specification. Every entry's sha256 and sha512
// are checked against checksums.yaml.gz when the gem has one (every gem
// built by RubyGems 2 or later). Every entry of the gem and of its
// data.tar.gz, which `gem install` unpacks, is checked (edge/archive: no
// links, devices or names out of the folder), and data.tar.gz may expand
// to limit bytes. r is read to its end. Errors are Invalid, TooLarge
// past limit, or the reader's own.
func readGem(r io.Reader, limit int64) (*Spec, error) {
	const op = "rubygems.readGem"
	var (
		spec      *Spec
		sums      map[string]map[string]string // algorithm → entry → hex
		got       = map[string]map[string]string{"SHA256": {}, "SHA512": {}}
		hasData   bool
		dataErr   error // data.tar.gz's refusal
		bad       = func(msg string, err error) error { return fault.WrapMsg(op, fault.Invalid, msg, err) }
		keepKinds = func(err error) error {
			if k := fault.KindOf(err); k != fault.Internal {
				return err
			}
			return nil
		}
	)
	tr := archive.NewTar(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if e := keepKinds(err); e != nil && !errors.Is(err, archive.ErrMalformed) {
				return nil, e
			}
			return nil, bad("the upload is not a gem (a tar archive)", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		s256, s512 := sha256.New(), sha512.New()
		body := io.TeeReader(tr, multiHash{s256, s512})
		switch h.Name {
		case "metadata.gz":
			b, err := gunzip(body)
			if err != nil {
				if e := keepKinds(err); e != nil {
					return nil, e
				}
				return nil, bad("the gem's metadata.gz is not valid gzip", err)
			}
			if spec, err = parseSpecYAML(b); err != nil {
				return nil, err
			}
		case "checksums.yaml.gz":
			b, err := gunzip(body)
			if err != nil {
				if e := keepKinds(err); e != nil {
					return nil, e
				}
				return nil, bad("the gem's checksums.yaml.gz is not valid gzip", err)
			}
			if err := yaml.Unmarshal(b, &sums); err != nil {
				return nil, bad("the gem's checksums.yaml.gz is not a checksum list", err)
			}
		case "data.tar.gz":
			hasData = true
			// Its refusal waits for the checksums: a corrupt gem is told
			// as a checksum mismatch.
			data, err := archive.NewTarGz(body, limit)
			if err == nil {
				err = data.Walk(func(*tar.Header) error { return nil })
			}
			if err != nil {
				dataErr = err
			}
		default:
			if _, err := io.Copy(io.Discard, body); err != nil {
				if e := keepKinds(err); e != nil {
					return nil, e
				}
				return nil, bad("the gem archive is truncated", err)
			}
		}
		// Drain what the entry handlers left (gzip trailers, padding).
		if _, err := io.Copy(io.Discard, body); err != nil {
			if e := keepKinds(err); e != nil {
				return nil, e
			}
			return nil, bad("the gem archive is truncated", err)
		}
		got["SHA256"][h.Name] = hex.EncodeToString(s256.Sum(nil))
		got["SHA512"][h.Name] = hex.EncodeToString(s512.Sum(nil))
	}
	// The tar's end-of-archive blocks are read; anything after is read too
	// so that the whole upload is stored (and counted against the limit).
	if _, err := io.Copy(io.Discard, r); err != nil {
		if e := keepKinds(err); e != nil {
			return nil, e
		}
		return nil, bad("reading the gem failed", err)
	}
	if spec == nil {
		return nil, fault.New(op, fault.Invalid, "the gem has no metadata.gz: is it a .gem built by `gem build`?")
	}
	if !hasData {
		return nil, fault.New(op, fault.Invalid, "the gem has no data.tar.gz")
	}
	for alg, files := range sums {
		mine, known := got[alg]
		if !known {
			continue
		}
		for name, want := range files {
			have, ok := mine[name]
			if !ok {
				return nil, fault.Newf(op, fault.Invalid, "checksums.yaml.gz lists %s, which the gem does not hold", name)
			}
			if have != want {
				return nil, fault.Newf(op, fault.Invalid, "checksum mismatch: the %s of %s is %s, checksums.yaml.gz says %s", alg, name, have, trunc(want))
			}
		}
	}
	if dataErr != nil {
		if e := keepKinds(dataErr); e != nil {
			return nil, e
		}
		return nil, bad("the gem's data.tar.gz is not a gzipped tar archive", dataErr)
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	return spec, nil
}

// gemName reads only as far as a .gem's metadata.gz, which gem build
// writes first, and returns the name its specification gives: what a
// push is authorized on before the rest of the gem is read. A gem whose
// name cannot be read so gives "" and no error: readGem tells why.
func gemName(r io.Reader) string {
	tr := archive.NewTar(r)
	for {
		h, err := tr.Next()
		if err != nil {
			return ""
		}
		if h.Name != "metadata.gz" || h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := gunzip(tr)
		if err != nil {
			return ""
		}
		spec, err := parseSpecYAML(b)
		if err != nil {
			return ""
		}
		return spec.Name
	}
}

func gunzip(r io.Reader) ([]byte, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(z, maxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetadata {
		return nil, fault.Newf("rubygems.gunzip", fault.TooLarge, "a gem metadata document is over %d bytes", maxMetadata)
	}
	return b, nil
}

type multiHash []hash.Hash

func (m multiHash) Write(p []byte) (int, error) {
	for _, h := range m {
		h.Write(p)
	}
	return len(p), nil
}
