// Package trophie is a client for the Trophie (Trend Micro) and Sophie
// (Sophos) scanning daemons, which share one socket protocol, the one their
// README files and simscan's original trophie support describe: the client
// connects to the daemon's unix socket and sends the absolute path of a file
// or directory followed by a newline; the daemon scans it and answers with
// one line:
//
//	0          clean
//	1:NAME     virus NAME found (NAME may be empty, or "1" come alone)
//	-1         scan error, possibly followed by ":reason"
//
// The clients written for these daemons (simscan's among them) take the
// answer from a single read and do not wait for the newline; this one does
// the same, so a daemon that leaves the newline out and keeps the
// connection open is still answered at once.
//
// The package reports what the daemon said; what a virus means is the
// caller's policy.
package trophie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/gosimscan/simscan/scanner/dial"
)

var (
	// ErrUnavailable reports that no daemon address could be dialed. It is
	// [dial.ErrUnavailable].
	ErrUnavailable = dial.ErrUnavailable
	// ErrProtocol reports an answer that is not 0, 1 or -1.
	ErrProtocol = errors.New("trophie protocol error")
	// ErrScan reports an answer of -1; the error text carries the reason
	// if the daemon gave one.
	ErrScan = errors.New("trophie scan error")
	// ErrPath reports a path the protocol cannot carry: not absolute, or
	// containing a newline or NUL.
	ErrPath = errors.New("bad path for trophie")
)

// Client talks to one or more Trophie or Sophie daemons. The zero Balance
// tries the addresses in order. A Client is safe for concurrent use; every
// call uses its own connection.
type Client struct {
	Addrs   []dial.Addr
	Balance dial.Balance
}

// Result is the daemon's verdict.
type Result struct {
	Infected bool
	Virus    string // may be empty when Infected: the daemon gave no name
}

// maxReply bounds the answer read.
const maxReply = 1024

// Scan asks the daemon to scan path, a file or a directory the daemon can
// read. Errors name the daemon's address; those caused by the context match
// its error (for example [context.DeadlineExceeded]).
func (c *Client) Scan(ctx context.Context, path string) (Result, error) {
	if !filepath.IsAbs(path) || strings.ContainsAny(path, "\n\x00") {
		return Result{}, fmt.Errorf("%w: %q", ErrPath, path)
	}
	conn, err := dial.Open(ctx, c.Addrs, c.Balance)
	if err != nil {
		return Result{}, fmt.Errorf("trophie: %w", err)
	}
	defer conn.Close()

	res, err := exchange(conn, path)
	if err != nil {
		return Result{}, fmt.Errorf("trophie %s: %w", conn.Addr, err)
	}
	return res, nil
}

func exchange(conn io.ReadWriter, path string) (Result, error) {
	if _, err := io.WriteString(conn, path+"\n"); err != nil {
		return Result{}, err
	}
	buf := make([]byte, maxReply)
	var n int
	for n == 0 {
		m, err := conn.Read(buf)
		n = m
		if err == io.EOF && n == 0 {
			return Result{}, fmt.Errorf("%w: connection closed without an answer", ErrProtocol)
		}
		if err != nil && err != io.EOF {
			return Result{}, err
		}
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	return parseReply(strings.TrimSuffix(string(line), "\r"))
}

// parseReply parses one answer without its newline.
func parseReply(s string) (Result, error) {
	code, text, _ := strings.Cut(s, ":")
	switch code {
	case "0":
		if text == "" {
			return Result{}, nil
		}
	case "1":
		return Result{Infected: true, Virus: strings.TrimSpace(text)}, nil
	case "-1":
		if text = strings.TrimSpace(text); text == "" {
			text = "no reason given"
		}
		return Result{}, fmt.Errorf("%w: %s", ErrScan, text)
	}
	if len(s) > 128 {
		s = s[:128] + "..."
	}
	return Result{}, fmt.Errorf("%w: unexpected answer %q", ErrProtocol, s)
}
