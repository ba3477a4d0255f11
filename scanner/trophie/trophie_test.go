package trophie

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/dial/dialtest"
)

// trophied is a fake daemon that reads one request line, sends it on got
// (if not nil), writes answer and then holds the connection open until the
// test ends, so that the client cannot rely on the daemon closing it.
func trophied(tb testing.TB, got chan<- string, answer string) *dialtest.Server {
	done := make(chan struct{})
	srv := dialtest.Unix(tb, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			tb.Errorf("fake trophie: %v", err)
			return
		}
		if got != nil {
			got <- line
		}
		if answer == "" {
			return // close without answering
		}
		io.WriteString(c, answer)
		<-done
	})
	tb.Cleanup(func() { close(done) }) // runs before the server's Close
	return srv
}

func ctxTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func TestScan(t *testing.T) {
	tests := []struct {
		answer string
		want   Result
		err    error
		text   string
	}{
		{answer: "0\n", want: Result{}},
		{answer: "0", want: Result{}}, // no newline, connection left open
		{answer: "1:EICAR_test_file\n", want: Result{Infected: true, Virus: "EICAR_test_file"}},
		{answer: "1:Trojan Horse: W32/Agent\n", want: Result{Infected: true, Virus: "Trojan Horse: W32/Agent"}},
		{answer: "1:\n", want: Result{Infected: true}},
		{answer: "1", want: Result{Infected: true}},
		{answer: "1:EICAR\r\n", want: Result{Infected: true, Virus: "EICAR"}},
		{answer: "-1\n", err: ErrScan, text: "no reason given"},
		{answer: "-1:Could not open file\n", err: ErrScan, text: "Could not open file"},
		{answer: "OK\n", err: ErrProtocol, text: `"OK"`},
		{answer: "0:clean?\n", err: ErrProtocol},
		{answer: "10\n", err: ErrProtocol},
		{answer: "\n", err: ErrProtocol},
		{answer: "", err: ErrProtocol, text: "closed without an answer"},
	}
	for _, tt := range tests {
		got := make(chan string, 1)
		srv := trophied(t, got, tt.answer)
		c := &Client{Addrs: []dial.Addr{srv.Addr}}
		res, err := c.Scan(ctxTimeout(t, 10*time.Second), "/var/qmail/simscan/1234.5678/msg")
		if line := <-got; line != "/var/qmail/simscan/1234.5678/msg\n" {
			t.Errorf("daemon received %q", line)
		}
		if tt.err == nil {
			if err != nil || res != tt.want {
				t.Errorf("answer %q: Scan = %+v, %v; want %+v", tt.answer, res, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), srv.Addr.String()) {
			t.Errorf("answer %q: err = %v, want %v containing %q and the address", tt.answer, err, tt.err, tt.text)
		}
		if res != (Result{}) {
			t.Errorf("answer %q: result %+v with an error", tt.answer, res)
		}
	}
}

func TestBadPath(t *testing.T) {
	srv := dialtest.Unix(t, func(net.Conn) { t.Error("client connected") })
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	for _, p := range []string{"msg", "./msg", "/tmp/a\nb", "/tmp/a\x00b", ""} {
		if _, err := c.Scan(context.Background(), p); !errors.Is(err, ErrPath) {
			t.Errorf("Scan(%q): err = %v, want ErrPath", p, err)
		}
	}
}

func TestDeadline(t *testing.T) {
	done := make(chan struct{})
	srv := dialtest.Unix(t, func(c net.Conn) { <-done }) // reads nothing, answers nothing
	t.Cleanup(func() { close(done) })
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	_, err := c.Scan(ctxTimeout(t, 100*time.Millisecond), "/tmp/msg")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), srv.Addr.String()) {
		t.Errorf("err = %v, want DeadlineExceeded naming %v", err, srv.Addr)
	}
}

func TestFailover(t *testing.T) {
	srv := trophied(t, nil, "1:EICAR\n")
	c := &Client{Addrs: []dial.Addr{dialtest.Missing(t), srv.Addr}}
	res, err := c.Scan(ctxTimeout(t, 10*time.Second), "/tmp/msg")
	if err != nil || !res.Infected {
		t.Errorf("Scan = %+v, %v; want infected via the second address", res, err)
	}

	c = &Client{Addrs: []dial.Addr{dialtest.Missing(t)}}
	if _, err := c.Scan(ctxTimeout(t, 10*time.Second), "/tmp/msg"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"0", "1", "1:", "1:X", "-1", "-1:why", "2", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		res, err := parseReply(s)
		if err != nil && res != (Result{}) {
			t.Errorf("%q: result %+v with error %v", s, res, err)
		}
		if res.Infected != (err == nil && strings.HasPrefix(s, "1")) {
			t.Errorf("%q: Infected %v, err %v", s, res.Infected, err)
		}
	})
}

func BenchmarkScan(b *testing.B) {
	srv := dialtest.Unix(b, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "0\n")
	})
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	ctx := ctxTimeout(b, time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Scan(ctx, "/var/qmail/simscan/msg"); err != nil {
			b.Fatal(err)
		}
	}
}
