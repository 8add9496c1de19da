package telegram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// MaxDownloadBytes is the Bot API's limit on a file a bot may fetch: 20 MB
// (a bigger one is refused by getFile with 400 "file is too big").
const MaxDownloadBytes = 20 << 20

// File is a file a person sent, as getFile describes it.
type File struct {
	ID       string `json:"file_id"`
	UniqueID string `json:"file_unique_id"`
	Size     int64  `json:"file_size"`
	// Path is where the Bot API serves it, valid for at least an hour.
	Path string `json:"file_path"`
}

// GetFile asks where file fileID can be downloaded.
func (c *Client) GetFile(ctx context.Context, fileID string) (File, error) {
	p := url.Values{}
	p.Set("file_id", fileID)
	var f File
	err := c.Call(ctx, "getFile", p, &f)
	return f, err
}

// ErrTooBig is wrapped by Download for a file above its limit.
var ErrTooBig = errors.New("the file is larger than allowed")

// Download fetches f into a new private (0600) file in dir and returns its
// path. More than limit bytes (as announced or as received) is refused
// with ErrTooBig, and nothing is left behind on any failure. Errors never
// contain the token, which is part of the download URL.
func (c *Client) Download(ctx context.Context, f File, dir string, limit int64) (string, error) {
	const method = "download"
	if f.Path == "" {
		return "", c.fail(method, errors.New("the file has no file_path; call GetFile first"))
	}
	if f.Size > limit {
		return "", c.fail(method, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooBig, f.Size, limit))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.root+"/file/bot"+c.token+"/"+f.Path, nil)
	if err != nil {
		return "", c.fail(method, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", c.fail(method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", c.fail(method, &APIError{Code: resp.StatusCode, Description: http.StatusText(resp.StatusCode)})
	}
	out, err := os.CreateTemp(dir, "telegram-*")
	if err != nil {
		return "", c.fail(method, err)
	}
	n, err := io.Copy(out, io.LimitReader(resp.Body, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("%w: more than %d bytes received", ErrTooBig, limit)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", c.fail(method, err)
	}
	return out.Name(), nil
}

// IsFileTooBig reports getFile's 400 "file is too big": the file is above
// what a bot may download.
func IsFileTooBig(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == http.StatusBadRequest && strings.Contains(e.Description, "file is too big")
}
