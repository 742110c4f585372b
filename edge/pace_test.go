package edge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestPacedBody: a body that brings less than the minimum in a window is
// answered 408 and its connection closed; one that keeps the pace is read
// whole.
func TestPacedBody(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler), MinBodyRate: 40000, MinBodyRateWindow: 300 * time.Millisecond})
	s.Mux().Handle("POST", "/b", Route{Protocol: "test", Name: "body"}, func(ctx *fasthttp.RequestCtx) error {
		b, err := ReadBody(ctx, 1<<20)
		// The first 8 KiB arrive before the handler runs (under one
		// window); what follows is paced by the reader.
		if err != nil {
			return err
		}
		ctx.SetBodyString(strconv.Itoa(len(b)))
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	cases := []struct {
		name   string
		head   int // bytes sent at once, before the trickle
		chunk  int
		every  time.Duration
		status int
	}{
		{"trickle from the start", 0, 1, 50 * time.Millisecond, http.StatusRequestTimeout},
		{"trickle after a fast start", 20000, 1, 50 * time.Millisecond, http.StatusRequestTimeout},
		{"paced", 0, 4000, 50 * time.Millisecond, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const size = 60000
			io.WriteString(c, "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 60000\r\n\r\n")
			io.WriteString(c, strings.Repeat("x", tc.head))
			go func() {
				for sent := tc.head; sent < size; sent += tc.chunk {
					time.Sleep(tc.every)
					if _, err := c.Write([]byte(strings.Repeat("x", min(tc.chunk, size-sent)))); err != nil {
						return
					}
				}
			}()
			c.SetReadDeadline(time.Now().Add(time.Minute))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
			}
			if tc.status == http.StatusOK && string(got) != strconv.Itoa(size) {
				t.Fatalf("the handler read %s bytes, want %d", got, size)
			}
			if tc.status == http.StatusRequestTimeout {
				var ne net.Error
				if _, err := br.ReadByte(); err == nil || errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the connection was not closed: %v", err)
				}
			}
		})
	}
}
