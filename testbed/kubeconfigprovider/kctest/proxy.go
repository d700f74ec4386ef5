package kctest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"gopkg.in/yaml.v3"
)

// Proxy forwards TCP connections from a loopback port to an API server, so
// that a test can take the API server away from edgesim while the cluster
// itself runs on: Cut closes the port and every connection through it
// (connections are refused), Restore opens the same port again.
type Proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// Proxied writes a copy of kubeconfig into dir whose every cluster's
// server goes through a Proxy on loopback (the API server's certificate
// names 127.0.0.1, as kind's does), and returns the copy's path and the
// proxy.
func Proxied(kubeconfig, dir string) (string, *Proxy, error) {
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		return "", nil, err
	}
	var kc map[string]any
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return "", nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	clusters, _ := kc["clusters"].([]any)
	var p *Proxy
	for _, c := range clusters {
		cl, _ := c.(map[string]any)["cluster"].(map[string]any)
		server, _ := cl["server"].(string)
		u, err := url.Parse(server)
		if err != nil || u.Host == "" {
			return "", nil, fmt.Errorf("kubeconfig %s: server %q: want https://HOST:PORT", kubeconfig, server)
		}
		if p != nil {
			return "", nil, fmt.Errorf("kubeconfig %s: more than one cluster", kubeconfig)
		}
		if p, err = StartProxy(u.Host); err != nil {
			return "", nil, err
		}
		u.Host = p.Addr()
		cl["server"] = u.String()
	}
	if p == nil {
		return "", nil, fmt.Errorf("kubeconfig %s: no cluster", kubeconfig)
	}
	out, err := yaml.Marshal(kc)
	if err == nil {
		path := filepath.Join(dir, "kubeconfig-proxied")
		if err = os.WriteFile(path, out, 0o600); err == nil {
			return path, p, nil
		}
	}
	p.Close()
	return "", nil, err
}

// StartProxy listens on a free loopback port and forwards to target.
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's loopback address.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track remembers a connection pair, or closes it when the proxy was cut
// meanwhile.
func (p *Proxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_, _ = c.Close(), up.Close()
		return false
	}
	p.conns[c], p.conns[up] = true, true
	return true
}

// Conns counts the open connections through the proxy, both ends.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Cut closes the port and every connection through it.
func (p *Proxy) Cut() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

// Restore listens on the proxy's port again.
func (p *Proxy) Restore() error {
	p.mu.Lock()
	cut := p.ln == nil
	p.mu.Unlock()
	if !cut {
		return errors.New("proxy: not cut")
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close cuts the proxy for good and waits for its goroutines.
func (p *Proxy) Close() {
	p.Cut()
	p.wg.Wait()
}
