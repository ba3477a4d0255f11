// Package dialtest runs scripted fake daemons for the tests of the scanner
// protocol clients, in the manner of mox's smtpclient tests: each accepted
// connection is handed to a handler that plays the daemon's side.
package dialtest

import (
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gosimscan/simscan/scanner/dial"
)

// Server is a fake daemon. It is shut down, and its connections closed, when
// the test ends.
type Server struct {
	Addr     dial.Addr
	Accepted atomic.Int64 // connections accepted so far

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// Unix starts a fake daemon on a unix socket in tb.TempDir() that serves
// every connection with handle.
func Unix(tb testing.TB, handle func(net.Conn)) *Server {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	return serve(tb, ln, dial.Addr{Network: "unix", Address: path}, handle)
}

// TCP starts a fake daemon on 127.0.0.1 that serves every connection with
// handle.
func TCP(tb testing.TB, handle func(net.Conn)) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return serve(tb, ln, dial.Addr{Network: "tcp", Address: ln.Addr().String()}, handle)
}

func serve(tb testing.TB, ln net.Listener, a dial.Addr, handle func(net.Conn)) *Server {
	s := &Server{Addr: a, ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.Accepted.Add(1)
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	tb.Cleanup(s.Close)
	return s
}

// Close stops accepting, closes open connections and waits for the handlers
// to return.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Refused returns a TCP address on 127.0.0.1 where nothing listens, so
// dialing it fails with "connection refused".
func Refused(tb testing.TB) dial.Addr {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := dial.Addr{Network: "tcp", Address: ln.Addr().String()}
	ln.Close()
	return a
}

// Missing returns a unix socket path in tb.TempDir() where no socket exists.
func Missing(tb testing.TB) dial.Addr {
	tb.Helper()
	return dial.Addr{Network: "unix", Address: filepath.Join(tb.TempDir(), "none")}
}
