package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// warmCmd sends lockfiles to POST /api/v1/warm of a running server and
// follows the job until it is done: a progress line while it runs, then
// one line per artifact that was not warmed. Anything refused or failed is
// a non-zero exit.
func warmCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("warm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", getenv("ENTREPOT_URL"), "base URL of the Entrepot server (default $ENTREPOT_URL)")
	token := fs.String("token", getenv("ENTREPOT_TOKEN"), "srg_ token that may read the mirror (default $ENTREPOT_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *token == "" || fs.NArg() == 0 {
		return fmt.Errorf("warm: usage: entrepot warm [--url URL] [--token T] LOCKFILE...; --url (or ENTREPOT_URL) and --token (or ENTREPOT_TOKEN) are required")
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for _, name := range fs.Args() {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("warm: %w", err)
		}
		w, err := mw.CreateFormFile("lockfile", filepath.Base(name))
		if err != nil {
			return err
		}
		_, _ = w.Write(b)
	}
	_ = mw.Close()
	url := strings.TrimRight(*base, "/") + "/api/v1/warm"
	c := &http.Client{Timeout: time.Minute}
	call := func(method, url string, body io.Reader, ctype string, out any) error {
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+*token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(raw)))
		}
		return json.Unmarshal(raw, out)
	}
	var started struct {
		ID    string `json:"id"`
		Total int    `json:"total"`
	}
	if err := call("POST", url, &form, mw.FormDataContentType(), &started); err != nil {
		return fmt.Errorf("warm: %w", err)
	}
	type item struct {
		Protocol, Name, Version, Status, Message string
		HTTP                                     int
	}
	var job struct {
		State               string
		Total, Done, Failed int
		Items               []item
	}
	for {
		if err := call("GET", url+"/"+started.ID, nil, "", &job); err != nil {
			return fmt.Errorf("warm: %w", err)
		}
		fmt.Fprintf(stderr, "\rwarm: %s %d/%d, %d not warmed", bar(job.Done, job.Total, 30), job.Done, job.Total, job.Failed)
		if job.State == "done" {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	fmt.Fprintln(stderr)
	counts := map[string]int{}
	for _, it := range job.Items {
		counts[it.Status]++
		if it.Status == "refused" || it.Status == "failed" {
			fmt.Fprintf(stdout, "%s %s %s@%s: %d %s\n", it.Status, it.Protocol, it.Name, it.Version, it.HTTP, oneLine(it.Message))
		}
	}
	fmt.Fprintf(stdout, "warm: %d artifacts: %d cached, %d fetched, %d refused, %d failed\n",
		job.Total, counts["cached"], counts["fetched"], counts["refused"], counts["failed"])
	if job.Failed > 0 {
		return fmt.Errorf("warm: %d of %d artifacts not warmed", job.Failed, job.Total)
	}
	return nil
}

func bar(done, total, width int) string {
	n := width
	if total > 0 {
		n = done * width / total
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
