package upstream

import (
	"context"
	"net/http"
	"time"

	"entrepot/hosted/fault"
)

// Probe asks whether the upstream is reachable: one GET of the base URL,
// without retries, where any answer below 500 counts as reachable (a
// registry's root may well be a 404 or a 401). The result is kept for
// Health. Errors are Upstream (or Unavailable when ctx ends).
func (c *Client) Probe(ctx context.Context) error {
	const op = "upstream.Probe"
	resp, cancel, err := c.attempt(ctx, c.base, Request{})
	if resp != nil {
		drain(resp.Body)
	}
	cancel()
	switch {
	case resp != nil && resp.StatusCode >= 500:
		err = fault.Newf(op, fault.Upstream, "%s: upstream answered %d", c.name, resp.StatusCode)
	case resp != nil:
		err = nil // any answer below 500 means it is there
	case ctx.Err() != nil:
		err = fault.WrapMsg(op, fault.Unavailable, c.name+": probe ended", ctx.Err())
	default:
		err = fault.WrapMsg(op, fault.Upstream, c.name+": unreachable", scrub(err))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok, c.checked, c.lastErr = err == nil, time.Now(), ""
	if err != nil {
		c.lastErr = err.Error()
	}
	return err
}

// Health returns the last Probe's result: whether the upstream answered,
// when it was checked (zero before the first probe) and the error's text.
// It is safe for concurrent use.
func (c *Client) Health() (ok bool, checked time.Time, err string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok, c.checked, c.lastErr
}

// Run probes the upstream now and then every interval until ctx is done.
// Each probe is bounded by the interval, so a hung upstream never stacks
// probes up.
func (c *Client) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, every)
		c.Probe(pctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var _ http.RoundTripper = authTransport{}
