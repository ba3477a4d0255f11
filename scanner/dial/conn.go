package dial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Conn is a daemon connection bound to a context. Before every Read and
// Write it sets the connection deadline to the context's deadline (none if
// the context has none), and cancelling the context makes blocked I/O return
// at once. Errors caused by the context match its error with errors.Is, so
// an expired deadline is recognisable as [context.DeadlineExceeded].
type Conn struct {
	Addr Addr // the address that answered

	nc   net.Conn
	ctx  context.Context
	stop func() bool
}

// Open dials addrs as [Dial] does and binds the connection to ctx.
func Open(ctx context.Context, addrs []Addr, balance Balance) (*Conn, error) {
	nc, a, err := Dial(ctx, addrs, balance)
	if err != nil {
		return nil, err
	}
	return NewConn(ctx, nc, a), nil
}

// NewConn binds nc, connected to addr, to ctx. Close releases the binding.
func NewConn(ctx context.Context, nc net.Conn, addr Addr) *Conn {
	c := &Conn{Addr: addr, nc: nc, ctx: ctx}
	c.stop = context.AfterFunc(ctx, func() {
		// Wake blocked I/O; the next arm reports ctx.Err().
		nc.SetDeadline(aLongTimeAgo)
	})
	return c
}

// aLongTimeAgo is a deadline in the past, to interrupt I/O.
var aLongTimeAgo = time.Unix(1, 0)

// arm sets the deadline for the next I/O. The context is checked after the
// deadline is set: if it is still live here, a later cancellation's
// AfterFunc runs after this SetDeadline and interrupts the I/O.
func (c *Conn) arm() error {
	d, _ := c.ctx.Deadline()
	if err := c.nc.SetDeadline(d); err != nil {
		return err
	}
	return c.ctx.Err()
}

// fail makes an I/O error caused by the deadline or cancellation match the
// context's error. Other errors, io.EOF in particular, pass unchanged.
func (c *Conn) fail(err error) error {
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if cerr := c.ctx.Err(); cerr != nil {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	// The connection deadline is the context deadline, whose timer may
	// not have fired yet.
	return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
}

// Read reads from the connection under the context's deadline.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.arm(); err != nil {
		return 0, err
	}
	n, err := c.nc.Read(p)
	return n, c.fail(err)
}

// Write writes to the connection under the context's deadline.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.arm(); err != nil {
		return 0, err
	}
	n, err := c.nc.Write(p)
	return n, c.fail(err)
}

// WriteMsgUnix writes p with the ancillary data oob (for example
// syscall.UnixRights) under the context's deadline.
func (c *Conn) WriteMsgUnix(p, oob []byte) (n, oobn int, err error) {
	uc, ok := c.nc.(*net.UnixConn)
	if !ok {
		return 0, 0, ErrNotUnix
	}
	if err := c.arm(); err != nil {
		return 0, 0, err
	}
	n, oobn, err = uc.WriteMsgUnix(p, oob, nil)
	return n, oobn, c.fail(err)
}

// Close closes the connection and releases the context.
func (c *Conn) Close() error {
	c.stop()
	return c.nc.Close()
}
