package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxFileRead bounds one answer of FilesClient: samples and alerts of a
// run are a few megabytes.
const maxFileRead = 256 << 20

// FilesClient reads the files an agent serves on its TCP port
// (ServerConfig.Files), with the files token as its bearer.
type FilesClient struct {
	base  string
	token string
	hc    *http.Client
}

// NewFilesClient returns a client of the agent at addr ("10.0.0.5:47801").
func NewFilesClient(addr, token string, hc *http.Client) *FilesClient {
	return &FilesClient{base: "http://" + addr, token: token, hc: hc}
}

// Cat returns the file at path (Root.Cat: a missing file is empty).
func (c *FilesClient) Cat(ctx context.Context, path string) ([]byte, error) {
	return c.get(ctx, "/v1/cat", path)
}

// Tar returns the directory dir as a tar stream (Root.Tar).
func (c *FilesClient) Tar(ctx context.Context, dir string) ([]byte, error) {
	return c.get(ctx, "/v1/tar", dir)
}

func (c *FilesClient) get(ctx context.Context, endpoint, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+endpoint+"?path="+url.QueryEscape(path), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent files: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFileRead+1))
	if err != nil {
		return nil, fmt.Errorf("agent files: %s %s: %w", endpoint, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("agent files: %s %s: %s: %s", endpoint, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if len(b) > maxFileRead {
		return nil, fmt.Errorf("agent files: %s %s: more than %d bytes", endpoint, path, maxFileRead)
	}
	return b, nil
}
