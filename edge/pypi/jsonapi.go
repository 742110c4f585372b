package pypi

import (
	"encoding/json"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// The JSON project API in the shape of PyPI's (/pypi/<project>/json): for
// hosted projects from the catalog, for mirrored ones from the upstream's
// simple page (which holds no descriptions: info is thin there).

type jsonInfo struct {
	Name                   string   `json:"name"`
	Version                string   `json:"version"`
	Summary                string   `json:"summary"`
	Description            string   `json:"description"`
	DescriptionContentType string   `json:"description_content_type"`
	Author                 string   `json:"author"`
	AuthorEmail            string   `json:"author_email"`
	Maintainer             string   `json:"maintainer"`
	MaintainerEmail        string   `json:"maintainer_email"`
	License                string   `json:"license"`
	HomePage               string   `json:"home_page"`
	Keywords               string   `json:"keywords"`
	RequiresPython         string   `json:"requires_python"`
	RequiresDist           []string `json:"requires_dist"`
	Classifiers            []string `json:"classifiers"`
	ProjectURLs            any      `json:"project_urls"`
	PackageURL             string   `json:"package_url"`
	ReleaseURL             string   `json:"release_url"`
	Yanked                 bool     `json:"yanked"`
	YankedReason           *string  `json:"yanked_reason"`
}

type jsonFile struct {
	Filename          string            `json:"filename"`
	URL               string            `json:"url"`
	Digests           map[string]string `json:"digests"`
	Size              int64             `json:"size"`
	PackageType       string            `json:"packagetype"`
	PythonVersion     string            `json:"python_version"`
	RequiresPython    *string           `json:"requires_python"`
	UploadTime        string            `json:"upload_time,omitempty"`
	UploadTimeISO8601 string            `json:"upload_time_iso_8601,omitempty"`
	Yanked            bool              `json:"yanked"`
	YankedReason      *string           `json:"yanked_reason"`
	CoreMetadata      any               `json:"core_metadata,omitempty"`
}

type jsonDoc struct {
	Info            jsonInfo              `json:"info"`
	LastSerial      uint64                `json:"last_serial"`
	Releases        map[string][]jsonFile `json:"releases,omitempty"`
	URLs            []jsonFile            `json:"urls"`
	Vulnerabilities []any                 `json:"vulnerabilities"`
}

// jsonProject answers /pypi/<project>/json: the latest release's info, all
// releases.
func (h *Handler) jsonProject(ctx *fasthttp.RequestCtx) error {
	return h.jsonAPI(ctx, "")
}

// jsonRelease answers /pypi/<project>/<version>/json.
func (h *Handler) jsonRelease(ctx *fasthttp.RequestCtx) error {
	_, v, err := ParseVersion(param(ctx, "version"))
	if err != nil {
		return fault.Op("pypi.jsonRelease", err)
	}
	return h.jsonAPI(ctx, v)
}

func (h *Handler) jsonAPI(ctx *fasthttp.RequestCtx, version string) error {
	const op = "pypi.json"
	raw := param(ctx, "project")
	if err := ValidName(raw); err != nil {
		return fault.Op(op, err)
	}
	name := Normalize(raw)
	o, err := h.resolve(ctx, name)
	if err != nil {
		return err
	}
	var p *page
	metas := map[string]releaseMeta{}
	if o.Hosted {
		bg := edge.Context(ctx)
		if p, err = h.hostedPage(bg, name); err != nil {
			return err
		}
		vs, err := h.r.Catalog.Versions(bg, Protocol, name, false)
		if err != nil {
			return fault.Op(op, err)
		}
		for _, v := range vs {
			var m releaseMeta
			json.Unmarshal(v.Meta, &m)
			metas[v.Version] = m
		}
	} else if p, err = h.upstreamPage(edge.Context(ctx), name); err != nil {
		return err
	}
	base := h.mount.For(ctx)
	versions := p.versions()
	if len(versions) == 0 {
		return fault.Newf(op, fault.NotFound, "project %s has no releases", name)
	}
	releases := map[string][]jsonFile{}
	yanked := map[string]bool{}
	reasons := map[string]string{}
	for _, f := range p.Files {
		if f.Version == "" {
			continue
		}
		releases[f.Version] = append(releases[f.Version], jsonFileOf(p.Name, f, base))
		yanked[f.Version], reasons[f.Version] = f.Yanked, f.YankReason
	}
	doc := jsonDoc{LastSerial: p.Serial, Vulnerabilities: []any{}}
	if version == "" {
		version = latest(versions, yanked)
		doc.Releases = releases
		for _, v := range versions {
			if doc.Releases[v] == nil {
				doc.Releases[v] = []jsonFile{}
			}
		}
	} else if _, ok := releases[version]; !ok {
		return fault.Newf(op, fault.NotFound, "release %s of %s not found", version, name)
	}
	m, ok := metas[version]
	if !ok {
		m = releaseMeta{Name: name}
		for _, f := range releases[version] {
			if f.RequiresPython != nil {
				m.RequiresPython = *f.RequiresPython
			}
		}
	}
	doc.URLs = releases[version]
	if doc.URLs == nil {
		doc.URLs = []jsonFile{}
	}
	doc.Info = jsonInfo{
		Name: m.Name, Version: version, Summary: m.Summary, Description: m.Description,
		DescriptionContentType: m.DescriptionContentType, Author: m.Author, AuthorEmail: m.AuthorEmail,
		Maintainer: m.Maintainer, MaintainerEmail: m.MaintainerEmail, License: m.License,
		HomePage: m.HomePage, Keywords: m.Keywords, RequiresPython: m.RequiresPython,
		RequiresDist: m.RequiresDist, Classifiers: m.Classifiers, ProjectURLs: projectURLs(m.ProjectURLs),
		PackageURL: base + "/simple/" + name + "/", ReleaseURL: base + "/pypi/" + name + "/" + version + "/json",
		Yanked: yanked[version],
	}
	if m.Classifiers == nil {
		doc.Info.Classifiers = []string{}
	}
	if yanked[version] {
		r := reasons[version]
		doc.Info.YankedReason = &r
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fault.Wrap("pypi.jsonAPI", fault.Internal, err)
	}
	edge.ServeDocument(ctx, append(b, '\n'), edge.DocOptions{ContentType: "application/json"})
	return nil
}

// latest is the version PyPI's info shows: the newest final release that
// is not yanked, else the newest release.
func latest(versions []string, yanked map[string]bool) string {
	for i := len(versions) - 1; i >= 0; i-- {
		v, _, err := ParseVersion(versions[i])
		if err == nil && !v.IsPreRelease() && !yanked[versions[i]] {
			return versions[i]
		}
	}
	return versions[len(versions)-1]
}

// projectURLs turns the form's "Label, URL" lines into PyPI's map.
func projectURLs(lines []string) any {
	if len(lines) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, l := range lines {
		label, u, ok := cutComma(l)
		if ok {
			m[label] = u
		}
	}
	return m
}

func cutComma(s string) (string, string, bool) {
	label, u, ok := strings.Cut(s, ",")
	return strings.TrimSpace(label), strings.TrimSpace(u), ok
}

func jsonFileOf(project string, f pageFile, base string) jsonFile {
	jf := jsonFile{
		Filename: f.Filename, URL: fileURL(base, project, f.Filename), Digests: f.Hashes, Size: f.Size,
		PackageType: string(Sdist), PythonVersion: "source", Yanked: f.Yanked,
	}
	if jf.Digests == nil {
		jf.Digests = map[string]string{}
	}
	if d, err := ParseFilename(f.Filename, project); err == nil && d.Kind == Wheel {
		jf.PackageType, jf.PythonVersion = string(Wheel), d.Python
	}
	if f.RequiresPython != "" {
		rp := f.RequiresPython
		jf.RequiresPython = &rp
	}
	if !f.UploadTime.IsZero() {
		jf.UploadTime = f.UploadTime.UTC().Format("2006-01-02T15:04:05")
		jf.UploadTimeISO8601 = uploadTime(f.UploadTime)
	}
	if f.Yanked {
		r := f.YankReason
		jf.YankedReason = &r
	}
	if f.Metadata {
		var m any = true
		if len(f.MetadataHashes) > 0 {
			m = f.MetadataHashes
		}
		jf.CoreMetadata = m
	}
	return jf
}
