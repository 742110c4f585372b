package testkit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// Request sends one HTTP request with http.DefaultClient (redirects are
// followed) and returns the response, its body read and closed, and the
// body. body nil sends none. header holds name, value pairs; a pair whose
// value is empty is left out, so that an absent credential
// ("Authorization", token with token "") needs no branch.
//
// A transport error is reported with t.Errorf and answered with an empty
// response of status 0, so that Request is safe to call from goroutines.
func Request(t testing.TB, method, url string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	return request(t, http.DefaultClient, method, url, body, header)
}

func request(t testing.TB, c *http.Client, method, url string, body []byte, header []string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return &http.Response{Header: http.Header{}}, nil
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return &http.Response{Header: http.Header{}}, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// Basic is the Authorization value of HTTP Basic credentials, or "" when
// user is "", so that an anonymous call passes through Request's header
// pairs without a branch.
func Basic(user, password string) string {
	if user == "" {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// Stampede sends n anonymous GETs of url at once, as many clients missing
// the same cold artifact would, and waits for every answer. It returns one
// line for each answer that is not a 200 carrying exactly want; the caller
// decides how to report them, and counts the upstream's requests itself.
func Stampede(n int, url string, want []byte) []string {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		bad []string
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := ""
			resp, err := http.Get(url)
			if err != nil {
				msg = err.Error()
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Equal(b, want) {
					msg = fmt.Sprintf("status %d, %d bytes", resp.StatusCode, len(b))
				}
			}
			if msg != "" {
				mu.Lock()
				bad = append(bad, msg)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return bad
}
