package edge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/fault"
)

// TestRefusedBodyDrained: an error answered before the handler read the
// body (an upload session another edge ended, a denied write) reaches a
// client that sends the whole body first, as a proxy in front does, and
// the connection stays usable; a body past the drain limit closes it.
func TestRefusedBodyDrained(t *testing.T) {
	s := newTestServer(t)
	s.Mux().Handle("PATCH", "/up", Route{Protocol: "test", Name: "up"}, func(ctx *fasthttp.RequestCtx) error {
		return fault.New("test", fault.NotFound, "upload unknown")
	})
	c := testServer(t, s)
	cases := []struct {
		name      string
		size      int
		keepAlive bool
	}{
		{"small", 1000, true},
		{"a 20 MiB chunk", 20 << 20, true},
		{"past the drain limit", drainLimit + 4<<20, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := c.Transport.(*http.Transport).DialContext(context.Background(), "tcp", "")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			fmt.Fprintf(conn, "PATCH /up HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %d\r\n\r\n", tc.size)
			// The whole body goes out before the answer is read.
			written, werr := conn.Write(make([]byte, tc.size))
			if tc.keepAlive && werr != nil {
				t.Fatalf("the edge stopped reading after %d bytes: %v", written, werr)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v (sent %d bytes, %v)", err, written, werr)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp.Close == tc.keepAlive {
				t.Fatalf("Connection: close is %v, want %v", resp.Close, !tc.keepAlive)
			}
			if !tc.keepAlive {
				return
			}
			io.WriteString(conn, "PATCH /up HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 3\r\n\r\nabc")
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 404 {
				t.Fatalf("the next request on the connection: %v %v", resp, err)
			}
		})
	}
}
