package hosted

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"entrepot/hosted/fault"
)

// The catalog's collections. Ids are built by one function each, below, so
// that no other code composes keys.
var (
	claimsC = Collection{Name: "claims", Index: []string{"org"}}
	// packages: "name" is protocol:normalized (unique, so a racing first
	// publish has one winner); "org" lists an organization's packages by
	// protocol; "search" scans names across protocols.
	packagesC = Collection{Name: "packages", Unique: []string{"name"}, Index: []string{"org", "search"}}
	versionsC = Collection{Name: "versions", Index: []string{"pkg"}}
	filesC    = Collection{Name: "files", Index: []string{"version"}}
)

// claimID keys a claim by its folded namespace (ClaimKey), so that the
// names a client takes for one are one claim.
func claimID(protocol, namespace string) string { return ClaimKey(protocol, namespace) }
func packageID(protocol, name string) string    { return protocol + ":" + name }
func versionID(protocol, name, v string) string { return protocol + ":" + name + "@" + v }
func fileID(protocol, path string) string       { return protocol + ":" + path }

// Claim says that a namespace of a protocol (an npm scope, an OCI first
// segment, a Maven groupId prefix, or a single package name) belongs to
// an organization's hosted repository. A claimed name never resolves
// upstream.
type Claim struct {
	Protocol  string    `json:"protocol"`
	Namespace string    `json:"namespace"`
	OrgID     string    `json:"orgId"`
	RepoID    string    `json:"repoId"`
	CreatedAt time.Time `json:"createdAt"`
}

// Package is a hosted package: one name of one protocol.
type Package struct {
	ID          string    `json:"id"`
	Protocol    string    `json:"protocol"`
	Name        string    `json:"name"` // normalized, as the protocol compares names
	DisplayName string    `json:"displayName,omitempty"`
	OrgID       string    `json:"orgId"`
	RepoID      string    `json:"repoId"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Serial grows with every change to the package or its versions; a
	// protocol uses it to key prepared documents and as a validator.
	Serial uint64          `json:"serial"`
	Meta   json.RawMessage `json:"meta,omitempty"` // protocol-specific (dist-tags, owners, ...)
}

// File is one stored artifact of a version.
type File struct {
	Name        string            `json:"name"`   // file name or path, as the protocol addresses it
	Digest      string            `json:"digest"` // sha256 digest of the stored blob
	Size        int64             `json:"size"`
	ContentType string            `json:"contentType,omitempty"`
	Hashes      map[string]string `json:"hashes,omitempty"` // other algorithms, hex ("sha1", "sha512", "md5")
	Meta        json.RawMessage   `json:"meta,omitempty"`
	UploadedAt  time.Time         `json:"uploadedAt"`
}

// Version is one published version of a package.
type Version struct {
	Protocol    string          `json:"protocol"`
	Package     string          `json:"package"` // normalized name
	Version     string          `json:"version"`
	OrgID       string          `json:"orgId"`
	Files       []File          `json:"files,omitempty"`
	Meta        json.RawMessage `json:"meta,omitempty"` // protocol-specific manifest
	Yanked      bool            `json:"yanked,omitempty"`
	YankReason  string          `json:"yankReason,omitempty"`
	PublishedBy string          `json:"publishedBy,omitempty"`
	PublishedAt time.Time       `json:"publishedAt"`
	// Deleted marks an unpublished version. Its record stays, so that the
	// version can never be published again with other bytes.
	Deleted bool `json:"deleted,omitempty"`
}

// FileRef maps a protocol path to the version that holds the file. It is
// kept after deletion, for protocols where a file name is never reused.
type FileRef struct {
	Protocol string `json:"protocol"`
	Path     string `json:"path"`
	Package  string `json:"package"`
	Version  string `json:"version"`
	Digest   string `json:"digest"`
	Deleted  bool   `json:"deleted,omitempty"`
}

// Catalog is the typed system of record of hosted packages over any
// Store. It is safe for concurrent use; every write is one document, and
// every write that changes what a cache may hold is reported once to the
// Notifier (WithChanges) after it returns.
type Catalog struct {
	s       Store
	now     func() time.Time
	changes Notifier // nil: none
}

// NewCatalog returns a Catalog over s.
func NewCatalog(s Store) *Catalog { return &Catalog{s: s, now: time.Now} }

// WithChanges makes c report its changes to n (the change feed) and
// returns c. Call it before c is used.
func (c *Catalog) WithChanges(n Notifier) *Catalog {
	c.changes = n
	return c
}

// changed reports a change made, when a Notifier is set.
func (c *Catalog) changed(ctx context.Context, ch Change) {
	if c.changes != nil {
		c.changes.Notify(ctx, ch)
	}
}

// packageChanged reports a change to a package, or to one version of it.
func (c *Catalog) packageChanged(ctx context.Context, protocol, name, version string) {
	c.changed(ctx, Change{Kind: ChangePackage, Protocol: protocol, Name: name, Version: version})
}

// claimChanged reports a namespace claimed or released.
func (c *Catalog) claimChanged(ctx context.Context, protocol, namespace string) {
	c.changed(ctx, Change{Kind: ChangeClaim, Protocol: protocol, Name: namespace})
}

// Store returns the underlying store.
func (c *Catalog) Store() Store { return c.s }

// Claim records cl if its namespace is free and returns the claim in
// force: cl itself, or the existing claim when the same organization holds
// it already. A namespace held by another organization, under any form
// its protocol takes for the same name (FoldClaim), is a Conflict.
func (c *Catalog) Claim(ctx context.Context, cl Claim) (Claim, error) {
	got, _, err := c.claim(ctx, cl)
	return got, err
}

// claim is Claim, and tells whether it wrote cl.
func (c *Catalog) claim(ctx context.Context, cl Claim) (Claim, bool, error) {
	const op = "catalog.Claim"
	if cl.Protocol == "" || cl.Namespace == "" || cl.OrgID == "" {
		return Claim{}, false, fault.New(op, fault.Invalid, "claim needs a protocol, a namespace and an organization")
	}
	cl.CreatedAt = c.now().UTC()
	_, err := CreateJSON(ctx, c.s, claimsC, claimID(cl.Protocol, cl.Namespace), map[string]string{"org": cl.OrgID}, cl)
	if err == nil {
		c.claimChanged(ctx, cl.Protocol, cl.Namespace)
		return cl, true, nil
	}
	if !fault.Is(err, fault.Conflict) {
		return Claim{}, false, fault.Op(op, err)
	}
	got, err := c.ClaimOf(ctx, cl.Protocol, cl.Namespace)
	if err != nil {
		return Claim{}, false, err
	}
	if got.OrgID != cl.OrgID {
		return Claim{}, false, fault.Newf(op, fault.Conflict, "%s is claimed by another organization", cl.Namespace)
	}
	return got, false, nil
}

// ClaimFree is Claim for a first publish: it also refuses, with a
// Conflict, a namespace above or below another organization's claim in
// its protocol's hierarchy (com.acme while another holds com.acme.tools,
// or the reverse), which would take that organization's names or the
// names around them. Of two overlapping first claims racing, both may be
// refused; neither takes the other's names.
func (c *Catalog) ClaimFree(ctx context.Context, cl Claim) (Claim, error) {
	if err := c.overlap(ctx, cl); err != nil {
		return Claim{}, err
	}
	got, created, err := c.claim(ctx, cl)
	if err != nil || !created {
		return got, err
	}
	// Check again once the claim is visible: of two overlapping claims
	// written at once, each sees the other here.
	if err := c.overlap(ctx, got); err != nil {
		if rerr := c.s.Delete(ctx, claimsC, claimID(cl.Protocol, cl.Namespace)); rerr != nil {
			return Claim{}, fault.Op("catalog.ClaimFree", rerr)
		}
		c.claimChanged(ctx, cl.Protocol, cl.Namespace)
		return Claim{}, err
	}
	return got, nil
}

// overlap returns a Conflict when another organization than cl's holds a
// namespace above or below cl's.
func (c *Catalog) overlap(ctx context.Context, cl Claim) error {
	const op = "catalog.ClaimFree"
	sep := ruleOf(cl.Protocol).sep
	if sep == "" {
		return nil
	}
	refuse := func() error {
		return fault.Newf(op, fault.Conflict, "%s overlaps a namespace another organization holds: a first publish claims no namespace above or below another organization's", cl.Namespace)
	}
	folded := FoldClaim(cl.Protocol, cl.Namespace)
	for _, ns := range ancestors(cl.Protocol, folded) {
		got, err := c.ClaimOf(ctx, cl.Protocol, ns)
		switch {
		case err == nil && got.OrgID != cl.OrgID:
			return refuse()
		case err != nil && !fault.Is(err, fault.NotFound):
			return err
		}
	}
	err := c.eachClaim(ctx, Query{Prefix: claimID(cl.Protocol, folded+sep)}, func(_ Record, other Claim) error {
		if other.OrgID != cl.OrgID {
			return refuse()
		}
		return nil
	})
	return fault.Op(op, err)
}

// ClaimOf returns the claim on a namespace, under any form its protocol
// takes for the same name; NotFound when it is free.
func (c *Catalog) ClaimOf(ctx context.Context, protocol, namespace string) (Claim, error) {
	var cl Claim
	_, err := GetJSON(ctx, c.s, claimsC, claimID(protocol, namespace), &cl)
	return cl, fault.Op("catalog.ClaimOf", err)
}

// Claims lists every claim an organization holds, in the store's order
// (by protocol, then namespace).
func (c *Catalog) Claims(ctx context.Context, orgID string) ([]Claim, error) {
	var out []Claim
	err := c.eachClaim(ctx, Query{Key: "org", Prefix: orgID, Exact: true}, func(_ Record, cl Claim) error {
		out = append(out, cl)
		return nil
	})
	return out, fault.Op("catalog.Claims", err)
}

// eachClaim calls fn with every claim q finds, page by page, until fn
// returns an error.
func (c *Catalog) eachClaim(ctx context.Context, q Query, fn func(Record, Claim) error) error {
	for {
		recs, next, err := c.s.Query(ctx, claimsC, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			var cl Claim
			if err := json.Unmarshal(r.Data, &cl); err != nil {
				return fault.Wrap("catalog.claims", fault.Internal, err)
			}
			if err := fn(r, cl); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

// Release removes a claim (platform administration).
func (c *Catalog) Release(ctx context.Context, protocol, namespace string) error {
	if err := c.s.Delete(ctx, claimsC, claimID(protocol, namespace)); err != nil {
		return err
	}
	c.claimChanged(ctx, protocol, namespace)
	return nil
}

// RekeyClaims moves claims stored under an id other than their folded key
// (written before claims were folded) to it, so that every form of their
// name finds them. A claim whose folded key another claim holds already
// is left as it is and reported in the error. Run it once at start-up;
// it is idempotent, and edges running it at once are harmless.
func (c *Catalog) RekeyClaims(ctx context.Context) (int, error) {
	const op = "catalog.RekeyClaims"
	moved := 0
	var clashes []string
	err := c.eachClaim(ctx, Query{}, func(r Record, cl Claim) error {
		id := claimID(cl.Protocol, cl.Namespace)
		if id == r.ID {
			return nil
		}
		_, err := c.s.Create(ctx, claimsC, Record{ID: id, Keys: r.Keys, Data: r.Data})
		switch {
		case fault.Is(err, fault.Conflict):
			clashes = append(clashes, r.ID)
			return nil
		case err != nil:
			return err
		}
		if err := c.s.Delete(ctx, claimsC, r.ID); err != nil {
			return err
		}
		c.claimChanged(ctx, cl.Protocol, cl.Namespace)
		moved++
		return nil
	})
	if err != nil {
		return moved, fault.Op(op, err)
	}
	if len(clashes) > 0 {
		return moved, fault.Newf(op, fault.Conflict, "claims %s name what another claim holds already; release one of each pair", strings.Join(clashes, ", "))
	}
	return moved, nil
}

func packageKeys(p Package) map[string]string {
	return map[string]string{
		"name":   packageID(p.Protocol, p.Name),
		"org":    p.OrgID + "\x00" + p.Protocol + "\x00" + p.Name,
		"search": p.Name + "\x00" + p.Protocol,
	}
}

// Package returns a hosted package by its normalized name.
func (c *Catalog) Package(ctx context.Context, protocol, name string) (Package, error) {
	var p Package
	_, err := GetJSON(ctx, c.s, packagesC, packageID(protocol, name), &p)
	return p, fault.Op("catalog.Package", err)
}

// CreatePackage records a new package; Conflict when the name exists.
func (c *Catalog) CreatePackage(ctx context.Context, p Package) (Package, error) {
	now := c.now().UTC()
	p.ID = packageID(p.Protocol, p.Name)
	p.CreatedAt, p.UpdatedAt, p.Serial = now, now, 1
	_, err := CreateJSON(ctx, c.s, packagesC, p.ID, packageKeys(p), p)
	if err != nil {
		return p, fault.Op("catalog.CreatePackage", err)
	}
	c.packageChanged(ctx, p.Protocol, p.Name, "")
	return p, nil
}

// UpdatePackage changes a package through fn (which may run several
// times) and bumps its serial.
func (c *Catalog) UpdatePackage(ctx context.Context, protocol, name string, fn func(*Package) error) (Package, error) {
	p, err := Update(ctx, c.s, packagesC, packageID(protocol, name), func(p *Package, keys map[string]string) error {
		if err := fn(p); err != nil {
			return err
		}
		p.Serial++
		p.UpdatedAt = c.now().UTC()
		for k, v := range packageKeys(*p) {
			keys[k] = v
		}
		return nil
	})
	if err != nil {
		return p, fault.Op("catalog.UpdatePackage", err)
	}
	c.packageChanged(ctx, protocol, name, "")
	return p, nil
}

// Touch bumps a package's serial, after a change to one of its versions.
func (c *Catalog) Touch(ctx context.Context, protocol, name string) (Package, error) {
	return c.UpdatePackage(ctx, protocol, name, func(*Package) error { return nil })
}

// PackageFilter narrows ListPackages. Query matches names by prefix.
type PackageFilter struct {
	Protocol string
	OrgID    string
	Query    string
}

// ListPackages pages through packages matching f, by name.
func (c *Catalog) ListPackages(ctx context.Context, f PackageFilter, after string, limit int) ([]Package, string, error) {
	q := Query{Key: "search", Prefix: f.Query, After: after, Limit: limit}
	if f.OrgID != "" {
		prefix := f.OrgID + "\x00"
		if f.Protocol != "" {
			prefix += f.Protocol + "\x00" + f.Query
		}
		q = Query{Key: "org", Prefix: prefix, After: after, Limit: limit}
	}
	var out []Package
	for {
		recs, next, err := c.s.Query(ctx, packagesC, q)
		if err != nil {
			return nil, "", fault.Op("catalog.ListPackages", err)
		}
		for _, r := range recs {
			var p Package
			if err := json.Unmarshal(r.Data, &p); err != nil {
				return nil, "", fault.Wrap("catalog.ListPackages", fault.Internal, err)
			}
			if (f.Protocol == "" || p.Protocol == f.Protocol) && strings.HasPrefix(p.Name, f.Query) {
				out = append(out, p)
			}
		}
		// A filtered page may come out short; keep reading until it is full
		// or the scan ends, so that callers can page by the cursor alone.
		if next == "" || (limit > 0 && len(out) >= limit) {
			return out, next, nil
		}
		q.After = next
	}
}

// DeletePackage removes a package. Its versions are marked deleted, not
// dropped: the name may be published again, but never one of its old
// versions (npm's rule after an unpublish, and a safe one everywhere).
// Blobs are left to a sweeper.
func (c *Catalog) DeletePackage(ctx context.Context, protocol, name string) error {
	vs, err := c.Versions(ctx, protocol, name, false)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if _, err := c.DeleteVersion(ctx, protocol, name, v.Version); err != nil {
			return err
		}
	}
	if err := c.s.Delete(ctx, packagesC, packageID(protocol, name)); err != nil {
		return fault.Op("catalog.DeletePackage", err)
	}
	c.packageChanged(ctx, protocol, name, "")
	return nil
}

// AddVersion records a new version and a reference per file. A version
// that exists, or existed and was deleted, is a Conflict: versions are
// immutable. File paths taken by another version are a Conflict too, and
// then nothing is recorded.
func (c *Catalog) AddVersion(ctx context.Context, v Version) (Version, error) {
	const op = "catalog.AddVersion"
	if v.PublishedAt.IsZero() {
		v.PublishedAt = c.now().UTC()
	}
	var added []string
	for _, f := range v.Files {
		ref := FileRef{Protocol: v.Protocol, Path: f.Name, Package: v.Package, Version: v.Version, Digest: f.Digest}
		id := fileID(v.Protocol, f.Name)
		if _, err := CreateJSON(ctx, c.s, filesC, id, map[string]string{"version": versionID(v.Protocol, v.Package, v.Version)}, ref); err != nil {
			for _, a := range added {
				c.s.Delete(ctx, filesC, a)
			}
			if fault.Is(err, fault.Conflict) {
				return Version{}, fault.Newf(op, fault.Conflict, "file %s exists already", f.Name)
			}
			return Version{}, fault.Op(op, err)
		}
		added = append(added, id)
	}
	_, err := CreateJSON(ctx, c.s, versionsC, versionID(v.Protocol, v.Package, v.Version),
		map[string]string{"pkg": packageID(v.Protocol, v.Package)}, v)
	if err != nil {
		for _, a := range added {
			c.s.Delete(ctx, filesC, a)
		}
		if fault.Is(err, fault.Conflict) {
			return Version{}, fault.Newf(op, fault.Conflict, "version %s of %s exists already", v.Version, v.Package)
		}
		return Version{}, fault.Op(op, err)
	}
	c.packageChanged(ctx, v.Protocol, v.Package, v.Version)
	return v, nil
}

// AddFile adds a file to a version recorded already, for protocols whose
// files of one version arrive in separate uploads (PyPI's sdist and
// wheels, Maven's jar and pom). The file's path is reserved first, as
// AddVersion does: a path taken by any version, deleted ones included, is
// a Conflict and nothing changes. A missing version is NotFound; a deleted
// one is a Conflict, since a deleted version is never published again.
func (c *Catalog) AddFile(ctx context.Context, protocol, name, version string, f File) (Version, error) {
	const op = "catalog.AddFile"
	vid := versionID(protocol, name, version)
	ref := FileRef{Protocol: protocol, Path: f.Name, Package: name, Version: version, Digest: f.Digest}
	id := fileID(protocol, f.Name)
	if _, err := CreateJSON(ctx, c.s, filesC, id, map[string]string{"version": vid}, ref); err != nil {
		if fault.Is(err, fault.Conflict) {
			return Version{}, fault.Newf(op, fault.Conflict, "file %s exists already", f.Name)
		}
		return Version{}, fault.Op(op, err)
	}
	v, err := Update(ctx, c.s, versionsC, vid, func(v *Version, _ map[string]string) error {
		if v.Deleted {
			return fault.Newf(op, fault.Conflict, "version %s of %s was deleted and cannot be published again", version, name)
		}
		v.Files = append(v.Files, f)
		return nil
	})
	if err != nil {
		c.s.Delete(ctx, filesC, id)
		return Version{}, fault.Op(op, err)
	}
	c.packageChanged(ctx, protocol, name, version)
	return v, nil
}

// Version returns one version, deleted ones included (check Deleted).
func (c *Catalog) Version(ctx context.Context, protocol, name, version string) (Version, error) {
	var v Version
	_, err := GetJSON(ctx, c.s, versionsC, versionID(protocol, name, version), &v)
	return v, fault.Op("catalog.Version", err)
}

// Versions lists a package's versions in the store's order (by version
// string); deleted ones only when withDeleted.
func (c *Catalog) Versions(ctx context.Context, protocol, name string, withDeleted bool) ([]Version, error) {
	var out []Version
	q := Query{Key: "pkg", Prefix: packageID(protocol, name), Exact: true}
	for {
		recs, next, err := c.s.Query(ctx, versionsC, q)
		if err != nil {
			return nil, fault.Op("catalog.Versions", err)
		}
		for _, r := range recs {
			var v Version
			if err := json.Unmarshal(r.Data, &v); err != nil {
				return nil, fault.Wrap("catalog.Versions", fault.Internal, err)
			}
			if withDeleted || !v.Deleted {
				out = append(out, v)
			}
		}
		if next == "" {
			return out, nil
		}
		q.After = next
	}
}

// UpdateVersion changes a version through fn (which may run several times):
// yank, deprecate, metadata. Files cannot be changed this way.
func (c *Catalog) UpdateVersion(ctx context.Context, protocol, name, version string, fn func(*Version) error) (Version, error) {
	v, err := c.updateVersion(ctx, protocol, name, version, fn)
	if err != nil {
		return v, fault.Op("catalog.UpdateVersion", err)
	}
	c.packageChanged(ctx, protocol, name, version)
	return v, nil
}

// updateVersion is UpdateVersion without the change report.
func (c *Catalog) updateVersion(ctx context.Context, protocol, name, version string, fn func(*Version) error) (Version, error) {
	return Update(ctx, c.s, versionsC, versionID(protocol, name, version), func(v *Version, _ map[string]string) error {
		files := v.Files
		if err := fn(v); err != nil {
			return err
		}
		v.Files = files
		return nil
	})
}

// DeleteVersion marks a version deleted and its file references with it;
// the records stay so that neither the version nor (where the protocol
// says so) its file names can be reused. The change is reported once the
// file references are marked too, so that a cache reading them again
// after the report finds them deleted.
func (c *Catalog) DeleteVersion(ctx context.Context, protocol, name, version string) (Version, error) {
	const op = "catalog.DeleteVersion"
	v, err := c.updateVersion(ctx, protocol, name, version, func(v *Version) error {
		v.Deleted = true
		return nil
	})
	if err != nil {
		return v, fault.Op(op, err)
	}
	defer c.packageChanged(ctx, protocol, name, version)
	for _, f := range v.Files {
		_, err := Update(ctx, c.s, filesC, fileID(v.Protocol, f.Name), func(r *FileRef, _ map[string]string) error {
			r.Deleted = true
			return nil
		})
		if err != nil && !fault.Is(err, fault.NotFound) {
			return v, fault.Op(op, err)
		}
	}
	return v, nil
}

// File returns the reference of a file path, deleted ones included.
func (c *Catalog) File(ctx context.Context, protocol, path string) (FileRef, error) {
	var r FileRef
	_, err := GetJSON(ctx, c.s, filesC, fileID(protocol, path), &r)
	return r, fault.Op("catalog.File", err)
}
