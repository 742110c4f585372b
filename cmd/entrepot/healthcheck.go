package main

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck is `entrepot healthcheck`: it asks /healthz of the server on
// this machine's PORT and succeeds on 200. It is the container image's
// HEALTHCHECK, since an image with nothing but the binary has no curl.
func healthcheck(getenv func(string) string, stdout io.Writer) error {
	port := getenv("PORT")
	if port == "" {
		port = "3000"
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s: %s", resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return nil
}
