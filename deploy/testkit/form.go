package testkit

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"
)

// FormFile is the file part of a multipart form.
type FormFile struct {
	Field, Name, ContentType string
	Content                  []byte
}

// PostForm sends a multipart/form-data POST as twine or a browser would:
// fields first, in an unspecified order, then file. header holds further
// name, value pairs, as for Request.
func PostForm(t testing.TB, url string, fields map[string]string, file FormFile, header ...string) (*http.Response, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	pw, _ := mw.CreatePart(map[string][]string{
		"Content-Disposition": {`form-data; name="` + file.Field + `"; filename="` + file.Name + `"`},
		"Content-Type":        {file.ContentType},
	})
	pw.Write(file.Content)
	mw.Close()
	return Request(t, "POST", url, body.Bytes(), append([]string{"Content-Type", mw.FormDataContentType()}, header...)...)
}
