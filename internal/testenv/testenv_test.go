package testenv

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests document how the real daemons behave, for the tests of the
// rest of the project. They talk raw protocol on purpose.

// clamdAsk sends one z-command (clamd(8): "z" prefix, NUL-terminated) and
// returns the NUL-terminated reply.
func clamdAsk(t *testing.T, network, addr string, cmd string, payload func(net.Conn)) string {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte("z" + cmd + "\x00")); err != nil {
		t.Fatal(err)
	}
	if payload != nil {
		payload(conn)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(reply), "\x00")
}

// instream sends data in one chunk, then the zero-length chunk that ends
// the stream (clamd(8) INSTREAM: 4-byte big-endian length, data).
func instream(data []byte) func(net.Conn) {
	return func(c net.Conn) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		c.Write(n[:])
		c.Write(data)
		c.Write([]byte{0, 0, 0, 0})
	}
}

// fildes passes the open file f with SCM_RIGHTS and one byte of data
// (clamd(8) FILDES).
func fildes(t *testing.T, f *os.File) func(net.Conn) {
	return func(c net.Conn) {
		rights := syscall.UnixRights(int(f.Fd()))
		if _, _, err := c.(*net.UnixConn).WriteMsgUnix([]byte{0}, rights, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func writeTemp(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClamd(t *testing.T) {
	c := StartClamd(t)
	dir := t.TempDir()

	// INSTREAM over TCP.
	for _, tc := range []struct{ data, want string }{
		{EICAR, "stream: " + EICARName + " FOUND"},
		{"a line with " + Marker + " in it\n", "stream: " + MarkerName + " FOUND"},
		{"nothing to see here\n", "stream: OK"},
	} {
		if got := clamdAsk(t, "tcp", c.TCP, "INSTREAM", instream([]byte(tc.data))); got != tc.want {
			t.Errorf("INSTREAM %.20q: got %q, want %q", tc.data, got, tc.want)
		}
	}

	// FILDES and SCAN over the unix socket. FILDES replies name the
	// descriptor as clamd received it ("fd[10]"), SCAN the path.
	fdRE := regexp.MustCompile(`^fd\[\d+\]: `)
	for _, tc := range []struct{ name, data, want string }{
		{"eicar.com", EICAR, EICARName + " FOUND"},
		{"marker.txt", Marker, MarkerName + " FOUND"},
		{"clean.txt", "hello\n", "OK"},
	} {
		p := writeTemp(t, dir, tc.name, tc.data)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got := clamdAsk(t, "unix", c.Unix, "FILDES", fildes(t, f))
		f.Close()
		if !fdRE.MatchString(got) || fdRE.ReplaceAllString(got, "") != tc.want {
			t.Errorf("FILDES %s: got %q, want fd[N]: %s", tc.name, got, tc.want)
		}
		if got, want := clamdAsk(t, "unix", c.Unix, "SCAN "+p, nil), p+": "+tc.want; got != want {
			t.Errorf("SCAN %s: got %q, want %q", tc.name, got, want)
		}
	}

	// clamd decodes MIME: EICAR in a base64 attachment of a whole message is
	// found by scanning the message.
	msg := "From: a@example.com\nTo: b@example.org\nSubject: x\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhi\n" +
		"--B\nContent-Type: application/octet-stream; name=e.com\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString([]byte(EICAR)) + "\n--B--\n"
	if got, want := clamdAsk(t, "tcp", c.TCP, "INSTREAM", instream([]byte(msg))), "stream: "+EICARName+" FOUND"; got != want {
		t.Errorf("INSTREAM of a message with a base64 EICAR attachment: got %q, want %q", got, want)
	}

	// 10 objects scanned above; the log may lag the last reply a little.
	deadline := time.Now().Add(5 * time.Second)
	for c.Scans() < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := c.Scans(); n != 10 {
		t.Errorf("Scans() = %d, want 10\n%s", n, tail(c.Log, 20))
	}
}

// TestClamdOtherUser shows what simscan relies on when clamd runs as another
// user than simscan: SCAN of a path in a 0700 work directory fails, FILDES
// of the same file works. Needs root, as CI is.
func TestClamdOtherUser(t *testing.T) {
	c := StartClamdAs(t, "clamav")
	if c.User != "clamav" {
		t.Fatalf("User = %q", c.User)
	}
	work := t.TempDir()
	if err := os.Chmod(work, 0o700); err != nil {
		t.Fatal(err)
	}
	p := writeTemp(t, work, "eicar.com", EICAR)

	got := clamdAsk(t, "unix", c.Unix, "SCAN "+p, nil)
	// clamd 1.4 sends this reply twice, each ending in NUL:
	// "<path>: File path check failure: Permission denied. ERROR".
	t.Logf("SCAN of a file clamd cannot read: %q", got)
	if !strings.HasSuffix(got, ": File path check failure: Permission denied. ERROR") || strings.Contains(got, "FOUND") {
		t.Errorf("SCAN %s: got %q, want an access ERROR", p, got)
	}

	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := clamdAsk(t, "unix", c.Unix, "FILDES", fildes(t, f)); !strings.HasSuffix(got, ": "+EICARName+" FOUND") {
		t.Errorf("FILDES: got %q, want ...: %s FOUND", got, EICARName)
	}

	out, err := exec.Command("ps", "-o", "user=", "-p", fmt.Sprint(c.PID)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if u := strings.TrimSpace(string(out)); u != "clamav" {
		t.Errorf("clamd runs as %q, want clamav", u)
	}
}

// spamdCheck sends a SPAMC/1.5 CHECK (spamd's PROTOCOL document) and returns
// the response line and the Spam header's value.
func spamdCheck(t *testing.T, network, addr string, msg []byte) (status, spam string) {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n", len(msg))
	conn.Write(msg)
	r := bufio.NewReader(conn)
	status, err = r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Spam: "); ok {
			spam = v
		}
	}
	return strings.TrimRight(status, "\r\n"), spam
}

func TestSpamd(t *testing.T) {
	s := StartSpamd(t)
	if err := spamdPing("unix", s.Unix); err != nil {
		t.Errorf("PING on the unix socket: %v", err)
	}
	gtube := []byte("From: a@example.com\nTo: b@example.org\nSubject: test\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <gtube@example.com>\n\n" + GTUBE + "\n")

	status, spam := spamdCheck(t, "tcp", s.TCP, gtube)
	t.Logf("GTUBE: %s / Spam: %s", status, spam)
	if status != "SPAMD/1.1 0 EX_OK" || spam != "True ; 1000.0 / 5.0" {
		t.Errorf("GTUBE: got %q / Spam: %q, want SPAMD/1.1 0 EX_OK / True ; 1000.0 / 5.0", status, spam)
	}

	status, spam = spamdCheck(t, "unix", s.Unix, []byte(CleanMessage))
	t.Logf("clean: %s / Spam: %s", status, spam)
	// NO_RECEIVED and NO_RELAYS score -0.001 each: spamd prints "-0.0".
	if status != "SPAMD/1.1 0 EX_OK" || spam != "False ; -0.0 / 5.0" {
		t.Errorf("clean message: got %q / Spam: %q, want SPAMD/1.1 0 EX_OK / False ; -0.0 / 5.0", status, spam)
	}

	if n := s.Checks(); n != 2 {
		t.Errorf("Checks() = %d, want 2\n%s", n, tail(s.Log, 20))
	}
}

func TestSpamdCF(t *testing.T) {
	s := StartSpamd(t, SpamdCF("body SIMSCAN_TESTENV /lunch on Friday/", "score SIMSCAN_TESTENV 6.5"))
	_, spam := spamdCheck(t, "tcp", s.TCP, []byte(CleanMessage))
	if spam != "True ; 6.5 / 5.0" {
		t.Errorf("clean message with an extra rule: Spam: %q, want True ; 6.5 / 5.0", spam)
	}
}

func TestQpsmtpd(t *testing.T) {
	rec := BuildRecorder(t)
	msg := "From: a@example.com\nTo: b@example.org\nSubject: hello\n\nline one\r\n.starts with a dot\n..two dots\nlast line\n"
	wantMsg := strings.ReplaceAll(msg, "\r\n", "\n")

	t.Run("queued", func(t *testing.T) {
		dir := t.TempDir()
		q := StartQpsmtpd(t, rec, []string{"RECORDER_DIR=" + dir, "SIMSCAN_TEST=it's here"})
		code, text, err := SendMail(t, q.Addr(), "", []string{"a@x", "b@y", "c@z"}, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reply: %d %s", code, text)
		if code != 250 || !regexp.MustCompile(`^Queued! \d+ qp \d+ <>$`).MatchString(text) {
			t.Errorf("reply %d %q, want 250 Queued! <time> qp <pid> <>", code, text)
		}
		recs := ReadRecorded(t, dir)
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		r := recs[0]
		if want := "F\x00Ta@x\x00Tb@y\x00Tc@z\x00\x00"; string(r.Env) != want {
			t.Errorf("envelope %q, want %q", r.Env, want)
		}
		loc := QpsmtpdHeaders.FindIndex(r.Msg)
		if loc == nil {
			t.Fatalf("message does not start with qpsmtpd's headers:\n%s", r.Msg)
		}
		t.Logf("qpsmtpd adds:\n%s", r.Msg[:loc[1]])
		if got := string(r.Msg[loc[1]:]); got != wantMsg {
			t.Errorf("message after qpsmtpd's headers:\n%q\nwant\n%q", got, wantMsg)
		}
		for k, want := range map[string]string{
			"TCPREMOTEIP":   "127.0.0.1",
			"TCPLOCALIP":    "127.0.0.1",
			"TCPREMOTEHOST": "[127.0.0.1]",
			"SIMSCAN_TEST":  "it's here",
		} {
			if got := r.Environ[k]; got != want {
				t.Errorf("queue program's %s = %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"RELAYCLIENT", "QPSMTPD_CONFIG", "QMAIL"} {
			if v, ok := r.Environ[k]; ok {
				t.Errorf("queue program has %s=%q, want it unset", k, v)
			}
		}
		if len(r.Argv) != 1 || r.Argv[0] != rec {
			t.Errorf("argv %q, want just the program", r.Argv)
		}

		// A Message-Id header shows up in the reply.
		code, text, err = SendMail(t, q.Addr(), "s@example.com", []string{"a@x"}, []byte(CleanMessage))
		if err != nil || code != 250 || !strings.HasSuffix(text, " <20261121100000.1234@example.com>") {
			t.Errorf("with Message-ID: %d %q %v", code, text, err)
		}
		if recs := ReadRecorded(t, dir); len(recs) != 2 || string(recs[1].Env) != "Fs@example.com\x00Ta@x\x00\x00" {
			t.Errorf("second record: %d records", len(recs))
		}
	})

	t.Run("relayclient", func(t *testing.T) {
		dir := t.TempDir()
		q := StartQpsmtpd(t, rec, []string{"RECORDER_DIR=" + dir, "RELAYCLIENT="})
		if code, text, err := SendMail(t, q.Addr(), "", []string{"a@x"}, []byte(msg)); err != nil || code != 250 {
			t.Fatalf("%d %q %v", code, text, err)
		}
		if v, ok := ReadRecorded(t, dir)[0].Environ["RELAYCLIENT"]; !ok || v != "" {
			t.Errorf("RELAYCLIENT = %q (set %v), want set and empty", v, ok)
		}
	})

	t.Run("exit31", func(t *testing.T) {
		dir := t.TempDir()
		q := StartQpsmtpd(t, rec, []string{"RECORDER_DIR=" + dir, "RECORDER_EXIT=31"})
		code, text, err := SendMail(t, q.Addr(), "", []string{"a@x"}, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("reply: %d %s", code, text)
		if code != 451 || text != fmt.Sprintf(QpsmtpdExitText, 31) {
			t.Errorf("reply %d %q, want 451 %s", code, text, fmt.Sprintf(QpsmtpdExitText, 31))
		}
		if recs := ReadRecorded(t, dir); len(recs) != 1 {
			t.Errorf("%d records, want 1: the queue program read the message before failing", len(recs))
		}
	})
}

// TestRecorder runs the recorder as qmail-smtpd would run qmail-queue.
func TestRecorder(t *testing.T) {
	rec := BuildRecorder(t)
	run := func(t *testing.T, env []string, msg, envelope string) (int, []Recorded) {
		t.Helper()
		dir := t.TempDir()
		envFile := writeTemp(t, t.TempDir(), "envelope", envelope)
		f, err := os.Open(envFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(rec)
		cmd.Env = append(env, "RECORDER_DIR="+dir)
		cmd.Stdin = strings.NewReader(msg)
		cmd.Stdout = f // descriptor 1 open for reading, as qmail-queue gets it
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, ReadRecorded(t, dir)
	}

	for _, tc := range []struct {
		name     string
		env      []string
		envelope string
		code     int
		wantEnv  string
	}{
		{"ok", nil, "Ff@x\x00Tr@y\x00\x00", 0, "Ff@x\x00Tr@y\x00\x00"},
		{"exit", []string{"RECORDER_EXIT=71"}, "F\x00Tr@y\x00\x00", 71, "F\x00Tr@y\x00\x00"},
		{"stops at terminator", nil, "F\x00Tr@y\x00\x00trailing", 0, "F\x00Tr@y\x00\x00"},
		{"bad envelope", nil, "Xf\x00\x00", 91, "X"},
		{"short envelope", nil, "Ff@x\x00Tr@y", 54, "Ff@x\x00Tr@y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, recs := run(t, tc.env, "Subject: x\n\nbody\n", tc.envelope)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			if string(recs[0].Msg) != "Subject: x\n\nbody\n" || string(recs[0].Env) != tc.wantEnv {
				t.Errorf("recorded %q / %q", recs[0].Msg, recs[0].Env)
			}
		})
	}

	t.Run("noread", func(t *testing.T) {
		code, recs := run(t, []string{"RECORDER_NOREAD=1", "RECORDER_EXIT=31"}, "m", "F\x00\x00")
		if code != 31 || len(recs) != 1 || !recs[0].NoRead || recs[0].Msg != nil {
			t.Errorf("exit %d, records %+v", code, recs)
		}
	})
}

func TestDotStuff(t *testing.T) {
	for in, want := range map[string]string{
		"":                  ".\r\n",
		"a\nb":              "a\r\nb\r\n.\r\n",
		"a\r\n.b\r\n":       "a\r\n..b\r\n.\r\n",
		".\n..\nx.\n":       "..\r\n...\r\nx.\r\n.\r\n",
		"bare\rCR\n":        "bare\rCR\r\n.\r\n",
		"\n\nend\n":         "\r\n\r\nend\r\n.\r\n",
		"tail\r\n\r\n.\r\n": "tail\r\n\r\n..\r\n.\r\n",
	} {
		if got := string(dotStuff([]byte(in))); got != want {
			t.Errorf("dotStuff(%q) = %q, want %q", in, got, want)
		}
	}
}
