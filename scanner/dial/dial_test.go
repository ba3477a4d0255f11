package dial_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/dial/dialtest"
)

func TestParseList(t *testing.T) {
	unix := func(p string) dial.Addr { return dial.Addr{Network: "unix", Address: p} }
	tcp := func(a string) dial.Addr { return dial.Addr{Network: "tcp", Address: a} }
	tests := []struct {
		in   string
		want []dial.Addr
	}{
		{"unix:/run/clamd.sock", []dial.Addr{unix("/run/clamd.sock")}},
		{"/run/clamd.sock", []dial.Addr{unix("/run/clamd.sock")}},
		{"127.0.0.1:3310", []dial.Addr{tcp("127.0.0.1:3310")}},
		{"[::1]:783", []dial.Addr{tcp("[::1]:783")}},
		{"scan.example.org:783", []dial.Addr{tcp("scan.example.org:783")}},
		{" /a , unix:/b,10.0.0.1:3310 ,", []dial.Addr{unix("/a"), unix("/b"), tcp("10.0.0.1:3310")}},
	}
	for _, tt := range tests {
		got, err := dial.ParseList(tt.in)
		if err != nil {
			t.Errorf("ParseList(%q): %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseList(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseList(%q)[%d] = %#v, want %#v", tt.in, i, got[i], tt.want[i])
			}
		}
	}

	for _, in := range []string{"", " , ", "unix:", "clamd.sock", "localhost", "localhost:", ":783", "host:0", "host:70000", "host:smtp", "/a,bogus"} {
		if got, err := dial.ParseList(in); !errors.Is(err, dial.ErrAddress) {
			t.Errorf("ParseList(%q) = %v, %v; want ErrAddress", in, got, err)
		}
	}
}

func TestAddrString(t *testing.T) {
	for _, s := range []string{"unix:/run/clamd.sock", "127.0.0.1:3310"} {
		a, err := dial.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if a.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, a.String())
		}
	}
	if a, _ := dial.Parse("/x"); a.String() != "unix:/x" || !a.Unix() {
		t.Errorf("Parse(/x) = %v", a)
	}
}

func TestParseBalance(t *testing.T) {
	for in, want := range map[string]dial.Balance{"": dial.Ordered, "ordered": dial.Ordered, "Random": dial.Random} {
		got, err := dial.ParseBalance(in)
		if err != nil || got != want {
			t.Errorf("ParseBalance(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := dial.ParseBalance("roundrobin"); err == nil {
		t.Error("ParseBalance(roundrobin) succeeded")
	}
}

func TestDialFailover(t *testing.T) {
	srv := dialtest.Unix(t, func(net.Conn) {})
	refused := dialtest.Refused(t)
	missing := dialtest.Missing(t)

	c, a, err := dial.Dial(context.Background(), []dial.Addr{refused, missing, srv.Addr}, dial.Ordered)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if a != srv.Addr {
		t.Errorf("connected to %v, want %v", a, srv.Addr)
	}
}

func TestDialUnavailable(t *testing.T) {
	refused := dialtest.Refused(t)
	missing := dialtest.Missing(t)

	_, _, err := dial.Dial(context.Background(), []dial.Addr{refused, missing}, dial.Ordered)
	if !errors.Is(err, dial.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("err = %v, want it to wrap ECONNREFUSED and ENOENT", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v matches DeadlineExceeded", err)
	}
	for _, a := range []dial.Addr{refused, missing} {
		if !strings.Contains(err.Error(), a.String()) {
			t.Errorf("err = %q does not name %v", err, a)
		}
	}
	var de *dial.Error
	if !errors.As(err, &de) || len(de.Attempts) != 2 {
		t.Errorf("err = %#v, want *dial.Error with 2 attempts", err)
	}

	if _, _, err := dial.Dial(context.Background(), nil, dial.Ordered); !errors.Is(err, dial.ErrUnavailable) {
		t.Errorf("empty list: err = %v, want ErrUnavailable", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv := dialtest.Unix(t, func(net.Conn) {})
	_, _, err = dial.Dial(ctx, []dial.Addr{srv.Addr}, dial.Ordered)
	if errors.Is(err, dial.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want Canceled and not ErrUnavailable", err)
	}
}

func TestDialRandom(t *testing.T) {
	var srvs []*dialtest.Server
	var addrs []dial.Addr
	for range 3 {
		s := dialtest.Unix(t, func(net.Conn) {})
		srvs = append(srvs, s)
		addrs = append(addrs, s.Addr)
	}
	// A refused address in the list is skipped without disturbing the
	// spread over the others.
	addrs = append(addrs, dialtest.Refused(t))
	for range 300 {
		c, _, err := dial.Dial(context.Background(), addrs, dial.Random)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	for i, s := range srvs {
		if s.Accepted.Load() == 0 {
			t.Errorf("server %d never chosen", i)
		}
	}

	ordered := dialtest.Unix(t, func(net.Conn) {})
	for range 10 {
		c, a, err := dial.Dial(context.Background(), []dial.Addr{ordered.Addr, srvs[0].Addr}, dial.Ordered)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if a != ordered.Addr {
			t.Fatalf("ordered dial chose %v", a)
		}
	}
}

func TestConnDeadline(t *testing.T) {
	srv := dialtest.Unix(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c, err := dial.Open(ctx, []dial.Addr{srv.Addr}, dial.Ordered)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read: err = %v, want DeadlineExceeded", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("write after deadline: err = %v, want DeadlineExceeded", err)
	}
}

func TestConnCancel(t *testing.T) {
	srv := dialtest.TCP(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	ctx, cancel := context.WithCancel(context.Background())
	c, err := dial.Open(ctx, []dial.Addr{srv.Addr}, dial.Ordered)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Read(make([]byte, 1)) // no deadline: only the cancel ends it
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read: err = %v, want Canceled", err)
	}
}

func TestConnWriteMsgUnixOnTCP(t *testing.T) {
	srv := dialtest.TCP(t, func(net.Conn) {})
	c, err := dial.Open(context.Background(), []dial.Addr{srv.Addr}, dial.Ordered)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.WriteMsgUnix([]byte{0}, nil); !errors.Is(err, dial.ErrNotUnix) {
		t.Errorf("err = %v, want ErrNotUnix", err)
	}
}
