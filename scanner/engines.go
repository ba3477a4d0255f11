package scanner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/scanner/clamd"
	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/spamd"
	"github.com/gosimscan/simscan/scanner/trophie"
)

// engines returns the daemon checks the policy asks for, in order: clamd,
// trophie, spamd. An address list that does not parse becomes a check that
// fails, so the message gets what on_scanner_error says.
func engines(cfg *control.Config, p *Policy, m *Message) []Check {
	var out []Check
	balance, _ := dial.ParseBalance(cfg.ScannerBalance)
	if p.Clam {
		addrs, err := dial.ParseList(cfg.Clamd)
		out = append(out, &ClamCheck{Client: clamd.Client{Addrs: addrs, Balance: balance}, err: err})
	}
	if p.Trophie {
		addrs, err := dial.ParseList(cfg.Trophie)
		out = append(out, &TrophieCheck{Client: trophie.Client{Addrs: addrs, Balance: balance}, err: err})
	}
	if p.Spam {
		addrs, err := dial.ParseList(cfg.Spamd)
		user := p.SpamUser
		if user == "" && cfg.SpamcUser && len(m.To) == 1 {
			user = m.To[0]
		}
		out = append(out, &SpamCheck{
			Client:    spamd.Client{Addrs: addrs, Balance: balance},
			User:      user,
			SizeLimit: cfg.SpamSizeLimit,
			AuthUser:  cfg.SpamAuthUser,
			err:       err,
		})
	}
	return out
}

// ClamCheck asks clamd about the whole raw message: clamd decodes MIME and
// archives itself.
type ClamCheck struct {
	Client clamd.Client
	err    error
}

// Name implements Check.
func (c *ClamCheck) Name() string { return "clamav" }

// Check implements Check.
func (c *ClamCheck) Check(ctx context.Context, m *Message) (Finding, error) {
	if c.err != nil {
		return Finding{}, c.err
	}
	// clamd gets a descriptor of its own: one passed with FILDES shares its
	// file offset with ours, and a clamd still reading after a timeout
	// must not move the offset qmail-queue reads from.
	f, err := os.Open(m.Path)
	if err != nil {
		return Finding{}, err
	}
	defer f.Close()
	r, err := c.Client.Scan(ctx, f)
	if err != nil {
		return Finding{}, err
	}
	if r.Infected {
		return Finding{Kind: Virus, Scanner: c.Name(), Name: r.Virus}, nil
	}
	return Finding{Kind: Clean, Scanner: c.Name()}, nil
}

// TrophieCheck asks a Trophie or Sophie daemon to scan the work directory,
// where the message and its decoded parts are.
type TrophieCheck struct {
	Client trophie.Client
	err    error
}

// Name implements Check.
func (c *TrophieCheck) Name() string { return "trophie" }

// Check implements Check.
func (c *TrophieCheck) Check(ctx context.Context, m *Message) (Finding, error) {
	if c.err != nil {
		return Finding{}, c.err
	}
	r, err := c.Client.Scan(ctx, m.Dir)
	if err != nil {
		return Finding{}, err
	}
	if r.Infected {
		name := r.Virus
		if name == "" {
			name = "unknown"
		}
		return Finding{Kind: Virus, Scanner: c.Name(), Name: name}, nil
	}
	return Finding{Kind: Clean, Scanner: c.Name()}, nil
}

// SpamCheck asks spamd to PROCESS the message, as simscan passes it through
// spamc: spamd's copy, with its X-Spam headers, is what gets delivered.
type SpamCheck struct {
	Client    spamd.Client
	User      string // spamd's User header; empty for none
	SizeLimit int64  // larger messages are not checked
	AuthUser  bool   // check RELAYCLIENT senders too
	err       error
}

// Name implements Check.
func (c *SpamCheck) Name() string { return "spam" }

// ProcessedFile is the name of spamd's copy of the message in the work
// directory.
const ProcessedFile = "spamc.msg"

// Check implements Check.
func (c *SpamCheck) Check(ctx context.Context, m *Message) (Finding, error) {
	if m.RelayClient && !c.AuthUser {
		return Finding{}, &SkipError{Reason: "RELAYCLIENT is set", State: "RELAYCLIENT"}
	}
	if c.SizeLimit > 0 && m.Size > c.SizeLimit {
		return Finding{}, &SkipError{Reason: fmt.Sprintf("message of %d bytes is over spam_size_limit", m.Size)}
	}
	if c.err != nil {
		return Finding{}, c.err
	}
	path := filepath.Join(m.Dir, ProcessedFile)
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return Finding{}, err
	}
	// spamd adds headers, or wraps spam in a report: a copy far larger
	// than the message is a broken daemon filling the work directory.
	limit := 2*m.Size + 1<<20
	r, err := c.Client.Process(ctx, m.File, m.Size, c.User, &cappedWriter{w: out, left: limit})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Finding{}, err
	}
	return Finding{Kind: Spam, Scanner: c.Name(), Flagged: r.Spam, Score: r.Score, Required: r.Threshold, Processed: path}, nil
}

// ErrProcessedTooLarge is spamd sending back far more than it was sent.
var ErrProcessedTooLarge = errors.New("spamd's processed message is more than twice the size of the original")

// cappedWriter fails once more than left bytes have been written.
type cappedWriter struct {
	w    io.Writer
	left int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		return 0, ErrProcessedTooLarge
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}
