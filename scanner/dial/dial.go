// Package dial parses the daemon address lists of the simscan configuration
// and connects to the first daemon that answers.
//
// An address list is comma-separated; each element is "unix:/path" or
// "/path" for a unix(7) stream socket, or "host:port" for TCP. The dialer
// tries every address once, in list order or (with [Random]) starting at a
// random element and rotating from there, and moves to the next address
// only when connecting fails: a daemon that accepted the connection owns the
// request, so a slow or failing scan is never repeated elsewhere.
//
// [Conn] binds a connection to a [context.Context]: every Read and Write
// first sets the connection deadline from the context, the way go-smtp sets
// a deadline per command, and cancelling the context interrupts blocked I/O.
package dial

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrAddress reports an address list that cannot be parsed.
	ErrAddress = errors.New("bad daemon address")
	// ErrUnavailable reports that no address of the list could be dialed.
	ErrUnavailable = errors.New("no daemon available")
	// ErrNotUnix is returned by [Conn.WriteMsgUnix] on a connection that
	// is not a unix(7) socket.
	ErrNotUnix = errors.New("not a unix socket")
)

// Addr is one daemon address.
type Addr struct {
	Network string // "unix" or "tcp"
	Address string // socket path or host:port
}

// String returns the address in the configuration syntax: "unix:/path" or
// "host:port".
func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// Unix reports whether a is a unix(7) socket.
func (a Addr) Unix() bool { return a.Network == "unix" }

// Parse parses one address: "unix:/path", "/path" or "host:port". The port
// must be numeric.
func Parse(s string) (Addr, error) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		p := strings.TrimPrefix(s, "unix:")
		if p == "" {
			return Addr{}, fmt.Errorf("%w %q: empty socket path", ErrAddress, s)
		}
		return Addr{Network: "unix", Address: p}, nil
	case strings.HasPrefix(s, "/"):
		return Addr{Network: "unix", Address: s}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("%w %q: want unix:/path, /path or host:port", ErrAddress, s)
	}
	if host == "" {
		return Addr{}, fmt.Errorf("%w %q: empty host", ErrAddress, s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return Addr{}, fmt.Errorf("%w %q: port must be a number from 1 to 65535", ErrAddress, s)
	}
	return Addr{Network: "tcp", Address: s}, nil
}

// ParseList parses a comma-separated address list. Blanks around elements
// and empty elements are ignored; a list without any address is an error.
func ParseList(s string) ([]Addr, error) {
	var addrs []Addr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := Parse(f)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w %q: no address", ErrAddress, s)
	}
	return addrs, nil
}

// Balance selects the address tried first.
type Balance int

const (
	// Ordered tries the addresses in list order: the first is the primary,
	// the others are fallbacks.
	Ordered Balance = iota
	// Random starts at a random address and rotates through the list from
	// there, so load spreads over all daemons and each is still tried once.
	Random
)

// ParseBalance parses "ordered" or "random" (any case); the empty string
// means Ordered.
func ParseBalance(s string) (Balance, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ordered":
		return Ordered, nil
	case "random":
		return Random, nil
	}
	return Ordered, fmt.Errorf("bad balance mode %q: want ordered or random", s)
}

func (b Balance) String() string {
	switch b {
	case Ordered:
		return "ordered"
	case Random:
		return "random"
	}
	return "Balance(" + strconv.Itoa(int(b)) + ")"
}

// Error is returned by [Dial] when no address could be dialed. It matches
// [ErrUnavailable] with errors.Is, as well as each attempt's error (for
// example syscall.ECONNREFUSED) and, when the context ended the attempts,
// the context's error.
type Error struct {
	Attempts []Attempt
	Ctx      error // context error that stopped dialing, or nil
}

// Attempt is one failed dial.
type Attempt struct {
	Addr Addr
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrUnavailable.Error())
	for i, a := range e.Attempts {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(a.Addr.String())
		b.WriteString(": ")
		b.WriteString(a.Err.Error())
	}
	if e.Ctx != nil {
		b.WriteString("; ")
		b.WriteString(e.Ctx.Error())
	}
	return b.String()
}

// Unwrap returns ErrUnavailable, the context error if any, and the error of
// every attempt.
func (e *Error) Unwrap() []error {
	errs := []error{ErrUnavailable}
	if e.Ctx != nil {
		errs = append(errs, e.Ctx)
	}
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}

// Dial connects to the first address of addrs that accepts a connection,
// starting where balance says. When the context has a deadline each attempt
// but the last gets an equal share of the time left for the remaining
// addresses, so an address that drops packets cannot use up the time of the
// fallbacks. A
// failed dial moves on to the next address; an ended context stops at once.
// When at least one address was tried the error is an [*Error] matching
// [ErrUnavailable]; a context that ended before the first attempt gives its
// own error.
func Dial(ctx context.Context, addrs []Addr, balance Balance) (net.Conn, Addr, error) {
	if len(addrs) == 0 {
		return nil, Addr{}, fmt.Errorf("%w: empty address list", ErrUnavailable)
	}
	e := &Error{}
	start := 0
	if balance == Random {
		start = rand.IntN(len(addrs))
	}
	var d net.Dialer
	for i := range addrs {
		if err := ctx.Err(); err != nil {
			if len(e.Attempts) == 0 {
				// No daemon was tried: the caller ran out of time.
				return nil, Addr{}, fmt.Errorf("dial: %w", err)
			}
			e.Ctx = err
			return nil, Addr{}, e
		}
		a := addrs[(start+i)%len(addrs)]
		actx, cancel := ctx, context.CancelFunc(func() {})
		var share time.Duration
		if deadline, ok := ctx.Deadline(); ok && i < len(addrs)-1 {
			share = time.Until(deadline) / time.Duration(len(addrs)-i)
			actx, cancel = context.WithTimeout(ctx, share)
		}
		c, err := d.DialContext(actx, a.Network, a.Address)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return c, a, nil
		}
		if timedOut {
			// Only this attempt's share ran out, not the caller's
			// deadline: keep the text, drop context.DeadlineExceeded.
			err = fmt.Errorf("%v (after %v, its share of the deadline)", err, share.Round(time.Millisecond))
		}
		e.Attempts = append(e.Attempts, Attempt{a, err})
	}
	e.Ctx = ctx.Err()
	return nil, Addr{}, e
}
