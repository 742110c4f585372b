package warm

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"
)

// Outcomes of an item.
const (
	Pending = "pending"
	// Cached is the mirror holding it already. Not reported yet: the
	// edge's answer does not tell a cache hit from a fill, so every
	// success is Fetched for now.
	Cached  = "cached"
	Fetched = "fetched" // the mirror fetched it now
	Refused = "refused" // policy, claim or integrity said no
	Failed  = "failed"  // the upstream (or the edge) failed
)

// Result is an item with what warming it did.
type Result struct {
	Item
	Status string `json:"status"`
	// HTTP is the edge's answer to the client-shaped request, Message
	// the error it gave (the upstream's answer as the mirror passes it on).
	HTTP    int    `json:"http,omitempty"`
	Message string `json:"message,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
}

// Job is a warm run: GET /api/v1/warm/{id} answers it.
type Job struct {
	ID       string    `json:"id"`
	State    string    `json:"state"` // running, done
	Total    int       `json:"total"`
	Done     int       `json:"done"`
	Failed   int       `json:"failed"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Items    []Result  `json:"items"`
}

// Fetcher asks the edge for an artifact exactly as a client would, with
// the caller's credentials: status, the body (the caller closes it),
// whether the mirror already held it, and the error message of a refusal.
type Fetcher interface {
	// Fetch GETs path under protocol's mount point; accept, if not "",
	// is the Accept header.
	Fetch(ctx context.Context, protocol, path, accept string) (status int, body io.ReadCloser, err error)
	// Prefix is protocol's mount point ("/pypi").
	Prefix(protocol string) string
}

// Runner runs jobs and keeps them in memory, per edge, for Keep after
// they finish. It is safe for concurrent use.
type Runner struct {
	// Concurrency bounds the artifacts one job fetches at once (default 4).
	Concurrency int
	// Keep is how long a finished job stays answerable (default 1 h).
	Keep time.Duration
	// Timeout bounds one job (default 1 h).
	Timeout time.Duration

	mu   sync.Mutex
	jobs map[string]*Job
}

// Start runs a job over items with f in the background and returns its id.
// The job runs detached from the request that started it.
func (r *Runner) Start(items []Item, f Fetcher) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	j := &Job{ID: hex.EncodeToString(b[:]), State: "running", Total: len(items), Started: time.Now().UTC()}
	for _, it := range items {
		j.Items = append(j.Items, Result{Item: it, Status: Pending})
	}
	r.mu.Lock()
	if r.jobs == nil {
		r.jobs = map[string]*Job{}
	}
	r.sweep()
	r.jobs[j.ID] = j
	r.mu.Unlock()
	go r.run(j, f)
	return j.ID
}

// Get returns a copy of job id, false when there is none (or it expired).
func (r *Runner) Get(id string) (Job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	if !ok {
		return Job{}, false
	}
	c := *j
	c.Items = append([]Result(nil), j.Items...)
	return c, true
}

func (r *Runner) sweep() {
	keep := r.Keep
	if keep == 0 {
		keep = time.Hour
	}
	for id, j := range r.jobs {
		if !j.Finished.IsZero() && time.Since(j.Finished) > keep {
			delete(r.jobs, id)
		}
	}
}

func (r *Runner) run(j *Job, f Fetcher) {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = time.Hour
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n := r.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range j.Items {
		r.mu.Lock()
		it := j.Items[i].Item
		r.mu.Unlock()
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res := warmOne(ctx, f, it)
			r.mu.Lock()
			j.Items[i] = res
			j.Done++
			if res.Status == Failed || res.Status == Refused {
				j.Failed++
			}
			r.mu.Unlock()
		}()
	}
	wg.Wait()
	r.mu.Lock()
	j.State = "done"
	j.Finished = time.Now().UTC()
	r.mu.Unlock()
}

// warmOne asks for one artifact and checks its bytes against the
// lockfile's integrity.
func warmOne(ctx context.Context, f Fetcher, it Item) Result {
	res := Result{Item: it}
	h, want, err := integrity(it.Integrity)
	if err != nil {
		res.Status, res.Message = Refused, err.Error()
		return res
	}
	if it.Path == "" && it.Index != "" {
		p, status, msg := locate(ctx, f, it)
		if p == "" {
			res.HTTP, res.Message, res.Status = status, msg, Failed
			if status == 404 || status == 401 || status == 403 || status == 451 {
				res.Status = Refused
			}
			return res
		}
		it.Path, res.Path = p, p
	}
	status, body, err := f.Fetch(ctx, it.Protocol, it.Path, "")
	res.HTTP = status
	if err != nil {
		res.Status, res.Message = Failed, err.Error()
		return res
	}
	defer body.Close()
	if status != 200 {
		msg, _ := io.ReadAll(io.LimitReader(body, 4<<10))
		res.Message = strings.TrimSpace(string(msg))
		switch status {
		case 401, 403, 404, 451:
			// A claim, a policy or a permission: the normal path said no.
			res.Status = Refused
		default:
			res.Status = Failed
		}
		return res
	}
	if h == nil {
		h = sha256.New()
	}
	n, err := io.Copy(h, body)
	res.Bytes = n
	if err != nil {
		res.Status, res.Message = Failed, "reading the artifact: "+err.Error()
		return res
	}
	if want != nil && string(h.Sum(nil)) != string(want) {
		res.Status, res.Message = Refused, "integrity: the artifact does not match the lockfile's "+it.Integrity
		return res
	}
	res.Status = Fetched
	return res
}

// integrity parses an SRI value (the strongest of several) into a hash and
// the digest it must produce; "" is no check.
func integrity(sri string) (hash.Hash, []byte, error) {
	if sri == "" {
		return nil, nil, nil
	}
	rank := map[string]int{"sha1": 1, "sha256": 2, "sha512": 3}
	best, bestRank := "", 0
	for _, f := range strings.Fields(sri) {
		alg, _, _ := strings.Cut(f, "-")
		if rank[alg] > bestRank {
			best, bestRank = f, rank[alg]
		}
	}
	if best == "" {
		return nil, nil, fmt.Errorf("integrity %q: no known algorithm", sri)
	}
	alg, v, _ := strings.Cut(best, "-")
	v, _, _ = strings.Cut(v, "?")
	sum, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, nil, fmt.Errorf("integrity %q: %v", sri, err)
	}
	switch alg {
	case "sha1":
		return sha1.New(), sum, nil
	case "sha256":
		return sha256.New(), sum, nil
	}
	return sha512.New(), sum, nil
}
