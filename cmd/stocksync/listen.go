package main

import (
	"context"
	"net"
	"sync"
)

// listenAddr is where a serving command (serve, device serve) listens,
// announced once it does, so tests that listen on port 0 can learn the
// address.
type listenAddr struct {
	mu       sync.Mutex
	listener net.Listener
	listened chan struct{}
}

// ch is closed once the command listens. It is made on first use, under
// mu, because a test may wait on it before ParseFlags ran.
func (a *listenAddr) ch() chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listened == nil {
		a.listened = make(chan struct{})
	}
	return a.listened
}

// set announces the listener.
func (a *listenAddr) set(ln net.Listener) {
	a.mu.Lock()
	a.listener = ln
	a.mu.Unlock()
	close(a.ch())
}

// wait returns the address, once the command listens, waiting at most
// until ctx is done.
func (a *listenAddr) wait(ctx context.Context) (string, error) {
	select {
	case <-a.ch():
	case <-ctx.Done():
		return "", ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.listener.Addr().String(), nil
}
