package spamd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/dial/dialtest"
)

const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// request is what the fake spamd received.
type request struct {
	Method  string // "CHECK SPAMC/1.5"
	Headers []string
	Body    []byte
}

// readRequest reads a SPAMC/1.5 request with its Content-length body.
func readRequest(r *bufio.Reader) (request, error) {
	var req request
	line, err := r.ReadString('\n')
	if err != nil {
		return req, err
	}
	req.Method = strings.TrimSuffix(line, "\r\n")
	n := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return req, err
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			break
		}
		req.Headers = append(req.Headers, line)
		if v, ok := strings.CutPrefix(line, "Content-length: "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	if n < 0 {
		return req, errors.New("no Content-length")
	}
	req.Body = make([]byte, n)
	_, err = io.ReadFull(r, req.Body)
	return req, err
}

// spamd is a fake spamd answering every request with respond(req).
func spamd(tb testing.TB, got chan<- request, respond func(request) string) func(net.Conn) {
	return func(c net.Conn) {
		req, err := readRequest(bufio.NewReader(c))
		if err != nil {
			tb.Errorf("fake spamd: %v", err)
			return
		}
		if got != nil {
			got <- req
		}
		io.WriteString(c, respond(req))
	}
}

// verdict answers like spamd 4: spam if the body holds GTUBE.
func verdict(req request) string {
	spam := "Spam: False ; -0.1 / 5.0"
	if bytes.Contains(req.Body, []byte(gtube)) {
		spam = "Spam: True ; 1000.0 / 5.0"
	}
	switch req.Method {
	case "CHECK SPAMC/1.5":
		return "SPAMD/1.1 0 EX_OK\r\n" + spam + "\r\n\r\n"
	case "PROCESS SPAMC/1.5":
		body := "X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-26) on test\r\n" + string(req.Body)
		return fmt.Sprintf("SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\n%s\r\n\r\n%s", len(body), spam, body)
	}
	return "SPAMD/1.0 76 Bad header line: " + req.Method + "\r\n"
}

func ctxTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func messageFile(tb testing.TB, content string) *os.File {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "msg")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	f.Seek(5, io.SeekStart) // the client reads from offset 0 regardless
	return f
}

func TestCheck(t *testing.T) {
	got := make(chan request, 1)
	srv := dialtest.Unix(t, spamd(t, got, verdict))
	c := &Client{Addrs: []dial.Addr{srv.Addr}}

	// Larger than the client's buffer, so it is sent in several writes.
	ham := "Subject: hello\r\n\r\n" + strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 5000)
	spam := "Subject: buy\r\n\r\n" + gtube + "\r\n"
	for _, tt := range []struct {
		msg  string
		user string
		want Result
	}{
		{ham, "", Result{Spam: false, Score: -0.1, Threshold: 5}},
		{spam, "joe@example.org", Result{Spam: true, Score: 1000, Threshold: 5}},
		{"", "", Result{Score: -0.1, Threshold: 5}},
	} {
		res, err := c.Check(ctxTimeout(t, 10*time.Second), messageFile(t, tt.msg), int64(len(tt.msg)), tt.user)
		if err != nil {
			t.Fatal(err)
		}
		if res != tt.want {
			t.Errorf("Check = %+v, want %+v", res, tt.want)
		}
		req := <-got
		if req.Method != "CHECK SPAMC/1.5" || string(req.Body) != tt.msg {
			t.Errorf("spamd received %q with %d bytes, want CHECK with the %d of the message", req.Method, len(req.Body), len(tt.msg))
		}
		want := []string{"Content-length: " + strconv.Itoa(len(tt.msg))}
		if tt.user != "" {
			want = append(want, "User: "+tt.user)
		}
		if strings.Join(req.Headers, "|") != strings.Join(want, "|") {
			t.Errorf("request headers %q, want %q", req.Headers, want)
		}
	}
}

func TestProcess(t *testing.T) {
	srv := dialtest.TCP(t, spamd(t, nil, verdict))
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	msg := "Subject: buy\r\n\r\n" + gtube + "\r\n" + strings.Repeat("x", 100000)
	var out bytes.Buffer
	res, err := c.Process(ctxTimeout(t, 10*time.Second), strings.NewReader(msg), int64(len(msg)), "", &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Spam: true, Score: 1000, Threshold: 5}); res != want {
		t.Errorf("Process = %+v, want %+v", res, want)
	}
	if want := "X-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-26) on test\r\n" + msg; out.String() != want {
		t.Errorf("processed message: %d bytes, want %d", out.Len(), len(want))
	}
}

func TestResponses(t *testing.T) {
	const msg = "Subject: hi\r\n\r\nhi\r\n"
	tests := []struct {
		name     string
		response string
		process  bool
		want     Result
		body     string
		errs     []error
		text     string
	}{
		{name: "yes", response: "SPAMD/1.1 0 EX_OK\r\nSpam: Yes ; 15.3 / 5.0\r\n\r\n", want: Result{true, 15.3, 5}},
		{name: "no", response: "SPAMD/1.1 0 EX_OK\r\nSpam: No ; 2.5 / 6.5\r\n\r\n", want: Result{false, 2.5, 6.5}},
		{name: "bare LF", response: "SPAMD/1.1 0 EX_OK\nspam: true;3/2\n\n", want: Result{true, 3, 2}},
		{name: "process", process: true, response: "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: False ; 0.0 / 5.0\r\n\r\nhello", want: Result{false, 0, 5}, body: "hello"},
		{name: "short body", process: true, response: "SPAMD/1.1 0 EX_OK\r\nContent-length: 1000\r\nSpam: False ; 0.0 / 5.0\r\n\r\nhello", errs: []error{ErrProtocol}, text: "short body: 5 of 1000 bytes"},
		{name: "no content-length", process: true, response: "SPAMD/1.1 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\nhello", errs: []error{ErrProtocol}, text: "Content-length"},
		{name: "bad header line", response: "SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 19 bytes, got 3 bytes)\r\n", errs: []error{ErrSpamd}, text: "76 Bad header line"},
		{name: "unavailable", response: "SPAMD/1.0 69 Service Unavailable: Error fetching user preferences via SQL\r\n", errs: []error{ErrSpamd}, text: "69 Service Unavailable"},
		{name: "http", response: "HTTP/1.1 400 Bad Request\r\n\r\n", errs: []error{ErrProtocol}, text: "HTTP/1.1"},
		{name: "bad code", response: "SPAMD/1.1 zero EX_OK\r\n\r\n", errs: []error{ErrProtocol}},
		{name: "no spam header", response: "SPAMD/1.1 0 EX_OK\r\n\r\n", errs: []error{ErrProtocol}, text: "no Spam header"},
		{name: "bad verdict", response: "SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1.0 / 5.0\r\n\r\n", errs: []error{ErrProtocol}, text: "Maybe"},
		{name: "bad score", response: "SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5.0\r\n\r\n", errs: []error{ErrProtocol}},
		{name: "no threshold", response: "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 5.0\r\n\r\n", errs: []error{ErrProtocol}},
		{name: "bad header", response: "SPAMD/1.1 0 EX_OK\r\nno colon here\r\n\r\n", errs: []error{ErrProtocol}},
		{name: "closed", response: "", errs: []error{ErrProtocol}, text: "closed early"},
		{name: "closed in headers", response: "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1", errs: []error{ErrProtocol}, text: "closed in line"},
		{name: "long line", response: "SPAMD/1.1 0 " + strings.Repeat("x", 10000) + "\r\n", errs: []error{ErrProtocol}, text: "longer than"},
		{name: "many headers", response: "SPAMD/1.1 0 EX_OK\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n", errs: []error{ErrProtocol}, text: "headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dialtest.Unix(t, spamd(t, nil, func(request) string { return tt.response }))
			c := &Client{Addrs: []dial.Addr{srv.Addr}}
			var res Result
			var err error
			var out bytes.Buffer
			if tt.process {
				res, err = c.Process(ctxTimeout(t, 10*time.Second), strings.NewReader(msg), int64(len(msg)), "", &out)
			} else {
				res, err = c.Check(ctxTimeout(t, 10*time.Second), strings.NewReader(msg), int64(len(msg)), "")
			}
			if len(tt.errs) == 0 {
				if err != nil || res != tt.want || out.String() != tt.body {
					t.Errorf("= %+v, %v, body %q; want %+v, body %q", res, err, out.String(), tt.want, tt.body)
				}
				return
			}
			for _, e := range tt.errs {
				if !errors.Is(err, e) {
					t.Errorf("err = %v, want %v", err, e)
				}
			}
			if err != nil && (!strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), srv.Addr.String())) {
				t.Errorf("err = %q, want it to contain %q and the address", err, tt.text)
			}
			if res != (Result{}) {
				t.Errorf("result %+v with an error", res)
			}
		})
	}
}

func TestResponseError(t *testing.T) {
	srv := dialtest.TCP(t, spamd(t, nil, func(request) string { return "SPAMD/1.0 79 Timeout: (30 second timeout while trying to CHECK)\r\n" }))
	_, err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Check(ctxTimeout(t, 10*time.Second), strings.NewReader("x"), 1, "")
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != 79 || re.Message != "Timeout: (30 second timeout while trying to CHECK)" {
		t.Errorf("err = %#v, want ResponseError 79", err)
	}
}

// TestEarlyError has spamd refuse the request after its first line and
// close while the client still sends a large message: the client must
// report spamd's answer, not the broken pipe.
func TestEarlyError(t *testing.T) {
	refuse := func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "SPAMD/1.0 76 Bad header line: (header not in 'Name: value' format)\r\n")
	}
	msg := strings.Repeat("x", 16<<20)
	for _, srv := range []*dialtest.Server{dialtest.Unix(t, refuse), dialtest.TCP(t, refuse)} {
		c := &Client{Addrs: []dial.Addr{srv.Addr}}
		for range 5 {
			_, err := c.Check(ctxTimeout(t, 10*time.Second), strings.NewReader(msg), int64(len(msg)), "")
			var re *ResponseError
			if !errors.As(err, &re) || re.Code != 76 {
				t.Fatalf("%v: err = %v, want ResponseError 76", srv.Addr, err)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	srv := dialtest.Unix(t, func(net.Conn) { t.Error("client connected") })
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	if _, err := c.Check(context.Background(), strings.NewReader("x"), 1, "joe\r\nUser: root"); !errors.Is(err, ErrUser) {
		t.Errorf("user with CRLF: err = %v, want ErrUser", err)
	}
	if _, err := c.Check(context.Background(), strings.NewReader("x"), -1, ""); err == nil {
		t.Error("negative size accepted")
	}

	// A message shorter than its size must not leave spamd waiting.
	srv = dialtest.Unix(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	c = &Client{Addrs: []dial.Addr{srv.Addr}}
	_, err := c.Check(ctxTimeout(t, 10*time.Second), strings.NewReader("short"), 100, "")
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "5 of 100 bytes") {
		t.Errorf("short message: err = %v", err)
	}
}

func TestDeadline(t *testing.T) {
	silent := func(c net.Conn) { io.Copy(io.Discard, c) }
	for _, srv := range []*dialtest.Server{dialtest.Unix(t, silent), dialtest.TCP(t, silent)} {
		c := &Client{Addrs: []dial.Addr{srv.Addr}}
		_, err := c.Check(ctxTimeout(t, 100*time.Millisecond), strings.NewReader("x"), 1, "")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), srv.Addr.String()) {
			t.Errorf("Check: err = %v, want DeadlineExceeded naming %v", err, srv.Addr)
		}
		if err := c.Ping(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Ping: err = %v, want DeadlineExceeded", err)
		}
	}

	// spamd sends the headers and stalls in the body.
	done := make(chan struct{})
	srv := dialtest.Unix(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: 100\r\nSpam: False ; 0.0 / 5.0\r\n\r\nhalf")
		<-done
	})
	t.Cleanup(func() { close(done) }) // runs before the server's Close
	var out bytes.Buffer
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	_, err := c.Process(ctxTimeout(t, 100*time.Millisecond), strings.NewReader("x"), 1, "", &out)
	if !errors.Is(err, context.DeadlineExceeded) || out.String() != "half" {
		t.Errorf("Process: err = %v, out %q; want DeadlineExceeded after \"half\"", err, out.String())
	}
}

func TestFailoverAndBalance(t *testing.T) {
	c := &Client{Addrs: []dial.Addr{dialtest.Refused(t), dialtest.Missing(t)}}
	if _, err := c.Check(ctxTimeout(t, 10*time.Second), strings.NewReader("x"), 1, ""); !errors.Is(err, ErrUnavailable) {
		t.Errorf("all down: err = %v, want ErrUnavailable", err)
	}

	var srvs []*dialtest.Server
	for range 3 {
		srv := dialtest.Unix(t, spamd(t, nil, verdict))
		srvs = append(srvs, srv)
		c.Addrs = append(c.Addrs, srv.Addr)
	}
	c.Balance = dial.Random
	for range 100 {
		if _, err := c.Check(ctxTimeout(t, 10*time.Second), strings.NewReader("x"), 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i, srv := range srvs {
		if srv.Accepted.Load() == 0 {
			t.Errorf("server %d never used", i)
		}
	}
}

func TestPing(t *testing.T) {
	pingd := func(reply string) func(net.Conn) {
		return func(c net.Conn) {
			r := bufio.NewReader(c)
			line, _ := r.ReadString('\n')
			blank, _ := r.ReadString('\n')
			if line != "PING SPAMC/1.5\r\n" || blank != "\r\n" {
				t.Errorf("fake spamd: got %q %q", line, blank)
			}
			io.WriteString(c, reply)
		}
	}
	for reply, want := range map[string]error{
		"SPAMD/1.5 0 PONG\r\n":             nil,
		"SPAMD/1.5 0 PING\r\n":             ErrProtocol,
		"SPAMD/1.0 76 Bad header line\r\n": ErrSpamd,
		"+OK\r\n":                          ErrProtocol,
	} {
		srv := dialtest.TCP(t, pingd(reply))
		err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Ping(ctxTimeout(t, 10*time.Second))
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("reply %q: Ping = %v, want %v", reply, err, want)
		}
	}
}

func TestVersion(t *testing.T) {
	headersd := func(hdrs string) func(net.Conn) {
		return spamd(t, nil, func(req request) string {
			if req.Method != "HEADERS SPAMC/1.5" || !strings.HasPrefix(string(req.Body), "Subject: ") {
				return "SPAMD/1.0 76 Bad header line\r\n"
			}
			return fmt.Sprintf("SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\nSpam: False ; 0.0 / 5.0\r\n\r\n%s", len(hdrs), hdrs)
		})
	}
	for hdrs, want := range map[string]string{
		"Subject: version probe\r\nX-Spam-Checker-Version: SpamAssassin 4.0.1 (2024-03-26) on\r\n\tmail.example.org\r\nX-Spam-Level: \r\n\r\n": "4.0.1",
		"X-Spam-Checker-Version: SpamAssassin 3.4.6 (2021-04-09) on h\n\n":                                                                     "3.4.6",
		"Subject: version probe\r\n\r\n":                                       "unknown",
		"X-Spam-Checker-Version: SpamAssassin\r\n\r\n":                         "unknown",
		"X-Spam-Checker-Version: SpamAssassin 4.0.0 (2022-12-14) on h\r\nX-Sp": "4.0.0",
	} {
		srv := dialtest.Unix(t, headersd(hdrs))
		got, err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Version(ctxTimeout(t, 10*time.Second))
		if err != nil || got != want {
			t.Errorf("headers %q: Version = %q, %v; want %q", hdrs, got, err, want)
		}
	}

	srv := dialtest.Unix(t, headersd(strings.Repeat("X-Big: y\r\n", 10000)))
	if got, err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Version(ctxTimeout(t, 10*time.Second)); !errors.Is(err, ErrProtocol) {
		t.Errorf("huge headers: Version = %q, %v; want ErrProtocol", got, err)
	}
}

func FuzzResponse(f *testing.F) {
	for _, s := range []string{
		"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 15.3 / 5.0\r\n\r\n",
		"SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: False ; 0.0 / 5.0\r\n\r\nhello",
		"SPAMD/1.0 76 Bad header line\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, resp string) {
		r := bufio.NewReaderSize(strings.NewReader(resp), maxLine)
		code, _, err := readStatus(r)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("status: %v is not ErrProtocol", err)
			}
			return
		}
		if code < 0 {
			t.Errorf("negative code %d", code)
		}
		h, err := readHeaders(r)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("headers: %v is not ErrProtocol", err)
			}
			return
		}
		if _, err := parseSpam(h); err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("spam: %v is not ErrProtocol", err)
		}
		if err := copyBody(io.Discard, r, h); err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("body: %v is not ErrProtocol", err)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	srv := dialtest.Unix(b, spamd(b, nil, verdict))
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	msg := messageFile(b, strings.Repeat("Subject: benchmark\r\n", 200)) // 4 KB
	ctx := ctxTimeout(b, time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Check(ctx, msg, 4000, "joe"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProcess(b *testing.B) {
	srv := dialtest.Unix(b, spamd(b, nil, verdict))
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	msg := messageFile(b, strings.Repeat("Subject: benchmark\r\n", 200))
	ctx := ctxTimeout(b, time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Process(ctx, msg, 4000, "", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
