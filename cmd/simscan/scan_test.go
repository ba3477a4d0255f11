package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

// These tests run simscan against the real clamd and spamd that
// internal/testenv starts.

const env1 = "Falice@example.com\x00Tbob@example.org\x00\x00"

// withAttachment wraps data as a base64 attachment of a full message.
func withAttachment(name string, data []byte) string {
	b64 := base64.StdEncoding.EncodeToString(data)
	var wrapped strings.Builder
	for len(b64) > 76 {
		wrapped.WriteString(b64[:76] + "\n")
		b64 = b64[76:]
	}
	wrapped.WriteString(b64 + "\n")
	return "From: Alice <alice@example.com>\nTo: Bob <bob@example.org>\nSubject: Files\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <files@example.com>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"xx\"\n\n--xx\nContent-Type: text/plain\n\nHere.\n--xx\n" +
		"Content-Type: application/octet-stream; name=\"" + name + "\"\nContent-Disposition: attachment; filename=\"" + name + "\"\n" +
		"Content-Transfer-Encoding: base64\n\n" + wrapped.String() + "--xx--\n"
}

func zipOf(name string, data []byte) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, _ := z.Create(name)
	w.Write(data)
	z.Close()
	return b.Bytes()
}

func TestClamd(t *testing.T) {
	c := testenv.StartClamd(t)
	virusText := "DYour email was rejected because it contains the " + testenv.EICARName + " virus"
	tests := []struct {
		name  string
		conf  string
		msg   string
		code  qmail.ExitCode
		err4  string
		state string
	}{
		{"EICAR in a base64 attachment, FILDES", "clamd=unix:" + c.Unix, withAttachment("eicar.com.txt", []byte(testenv.EICAR)), qmail.CustomError, virusText, "VIRUS:" + testenv.EICARName},
		{"EICAR inside a zip, INSTREAM over TCP", "clamd=" + c.TCP, withAttachment("docs.zip", zipOf("readme.txt", []byte(testenv.EICAR))), qmail.CustomError, virusText, "VIRUS:" + testenv.EICARName},
		{"marker, dropmsg", "clamd=unix:" + c.Unix + "\ndropmsg=yes", withAttachment("note.txt", []byte("x "+testenv.Marker+" y")), qmail.OK, "", "VIRUS DROPPED:" + testenv.MarkerName},
		{"clean", "clamd=unix:" + c.Unix, testenv.CleanMessage, qmail.OK, "", "CLEAN:Lunch on Friday"},
		{"first clamd dead, second scans", "clamd=unix:/nonexistent/clamd.sock,unix:" + c.Unix, withAttachment("eicar.txt", []byte(testenv.EICAR)), qmail.CustomError, virusText, "VIRUS:" + testenv.EICARName},
		{"clamd down", "clamd=unix:/nonexistent/clamd.sock", testenv.CleanMessage, qmail.CustomError, "ZYour email could not be scanned now, please try again later", "TEMPFAIL:clamav_ clamd_ no daemon available"},
		{"clamd down, on_scanner_error=pass", "clamd=unix:/nonexistent/clamd.sock\non_scanner_error=pass", testenv.CleanMessage, qmail.OK, "", "CLEAN:Lunch on Friday"},
		{"clamd down, clamd_on_error=pass", "clamd=unix:/nonexistent/clamd.sock\nclamd_on_error=pass", testenv.CleanMessage, qmail.OK, "", "CLEAN:Lunch on Friday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, tt.conf+"\n")
			r := s.run(delivery{msg: strings.NewReader(tt.msg), env: env1, errFD4: true})
			if r.code != int(tt.code) || r.err4 != tt.err4 {
				t.Errorf("exit %d fd4 %q, want %d %q\n%s", r.code, r.err4, tt.code, tt.err4, r.stderr)
			}
			if line := logLine(t, r.stderr); !logMatch(line, tt.state) {
				t.Errorf("log line %q does not match %q", line, tt.state)
			}
			wantQueued := 0
			if tt.code == qmail.OK && !strings.Contains(tt.state, "DROPPED") {
				wantQueued = 1
			}
			if len(r.records) != wantQueued {
				t.Errorf("%d deliveries, want %d", len(r.records), wantQueued)
			}
			s.assertWorkEmpty()
		})
	}
}

func TestClamdPassedOverIsLogged(t *testing.T) {
	s := newSetup(t, "clamd=unix:/nonexistent/clamd.sock\non_scanner_error=pass\n")
	r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
	if r.code != 0 || !strings.Contains(r.stderr, "simscan: clamav failed, passing the message") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}

// A private work directory (0700) and clamd running as another user: FILDES
// hands clamd the descriptor, so it needs no access to the files.
func TestClamdFildesOtherUser(t *testing.T) {
	c := testenv.StartClamdAs(t, "clamav")
	s := newSetup(t, "clamd=unix:"+c.Unix+"\n")
	if err := os.Chmod(s.work, 0o700); err != nil {
		t.Fatal(err)
	}
	r := s.run(delivery{msg: strings.NewReader(withAttachment("e.txt", []byte(testenv.EICAR))), env: env1, errFD4: true})
	if r.code != int(qmail.CustomError) || !strings.Contains(r.err4, testenv.EICARName) {
		t.Errorf("exit %d fd4 %q\n%s", r.code, r.err4, r.stderr)
	}
}

func TestSpamd(t *testing.T) {
	sd := testenv.StartSpamd(t)
	c := testenv.StartClamd(t)
	gtube := strings.Replace(testenv.CleanMessage, "Alice\n", "Alice\n"+testenv.GTUBE+"\n", 1)
	conf := "spamd=" + sd.TCP + "\n"

	t.Run("GTUBE refused with its score", func(t *testing.T) {
		s := newSetup(t, conf)
		r := s.run(delivery{msg: strings.NewReader(gtube), env: env1, errFD4: true})
		if r.code != int(qmail.CustomError) || r.err4 != "DYour email is considered spam (1000.00 spam-hits)" {
			t.Errorf("exit %d fd4 %q\n%s", r.code, r.err4, r.stderr)
		}
		if !strings.Contains(logLine(t, r.stderr), ":SPAM REJECT (1000.00/5.00/5.00):") {
			t.Errorf("log %s", r.stderr)
		}
		if len(r.records) != 0 {
			t.Error("spam delivered")
		}
		s.assertWorkEmpty()
	})
	t.Run("clean message delivered with spamd's headers", func(t *testing.T) {
		s := newSetup(t, conf)
		r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
		if r.code != 0 || len(r.records) != 1 {
			t.Fatalf("exit %d, %d deliveries\n%s", r.code, len(r.records), r.stderr)
		}
		got := string(r.records[0].Msg)
		if !strings.Contains(got, "X-Spam-Checker-Version: SpamAssassin") || !strings.Contains(got, "shall we have lunch on Friday") {
			t.Errorf("delivered message is not spamd's processed copy:\n%s", got)
		}
		if !strings.Contains(logLine(t, r.stderr), ":CLEAN (") {
			t.Errorf("log %s", r.stderr)
		}
	})
	t.Run("spam_passthru delivers GTUBE with X-Spam headers", func(t *testing.T) {
		s := newSetup(t, conf+"spam_passthru=yes\n")
		r := s.run(delivery{msg: strings.NewReader(gtube), env: env1})
		if r.code != 0 || len(r.records) != 1 || !strings.Contains(string(r.records[0].Msg), "X-Spam-Flag: YES") {
			t.Fatalf("exit %d, %d deliveries\n%s", r.code, len(r.records), r.stderr)
		}
		if !strings.Contains(logLine(t, r.stderr), ":PASSTHRU (1000.00/5.00/5.00):") {
			t.Errorf("log %s", r.stderr)
		}
	})
	t.Run("spam_hits=2000 delivers GTUBE as SPAM PASS", func(t *testing.T) {
		s := newSetup(t, conf+"spam_hits=2000\n")
		r := s.run(delivery{msg: strings.NewReader(gtube), env: env1})
		if r.code != 0 || len(r.records) != 1 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(logLine(t, r.stderr), ":SPAM PASS (1000.00/5.00/2000.00):") {
			t.Errorf("log %s", r.stderr)
		}
	})
	t.Run("RELAYCLIENT skips the spam check", func(t *testing.T) {
		before := sd.Checks()
		s := newSetup(t, conf)
		r := s.run(delivery{msg: strings.NewReader(gtube), env: env1, environ: []string{"RELAYCLIENT="}})
		if r.code != 0 || !strings.Contains(logLine(t, r.stderr), ":RELAYCLIENT:") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
		if sd.Checks() != before {
			t.Error("spamd was asked")
		}
	})
	t.Run("spam_auth_user checks RELAYCLIENT senders", func(t *testing.T) {
		s := newSetup(t, conf+"spam_auth_user=yes\n")
		r := s.run(delivery{msg: strings.NewReader(gtube), env: env1, environ: []string{"RELAYCLIENT="}})
		if r.code != int(qmail.PermFail) {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("over spam_size_limit skips the spam check", func(t *testing.T) {
		before := sd.Checks()
		s := newSetup(t, conf+"spam_size_limit=100\n")
		r := s.run(delivery{msg: strings.NewReader(gtube), env: env1})
		if r.code != 0 || sd.Checks() != before {
			t.Errorf("exit %d, spamd asked %d times\n%s", r.code, sd.Checks()-before, r.stderr)
		}
	})
	t.Run("a virus never reaches spamd", func(t *testing.T) {
		before := sd.Checks()
		s := newSetup(t, conf+"clamd=unix:"+c.Unix+"\n")
		r := s.run(delivery{msg: strings.NewReader(withAttachment("e.txt", []byte(testenv.EICAR))), env: env1})
		if r.code != int(qmail.PermFail) || !strings.Contains(logLine(t, r.stderr), ":VIRUS:") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
		if n := sd.Checks() - before; n != 0 {
			t.Errorf("spamd was asked %d times about a virus", n)
		}
	})
	t.Run("every scanner and the Received header", func(t *testing.T) {
		s := newSetup(t, conf+"clamd=unix:"+c.Unix+"\nreceived=yes\n")
		os.WriteFile(filepath.Join(s.control, "ssattach"), []byte(".exe\n"), 0o644)
		r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
		if r.code != 0 || len(r.records) != 1 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if got := string(r.records[0].Msg); !strings.Contains(got, "\n (scanners: attach: unknown clamav: unknown spam: unknown); ") {
			t.Errorf("Received header:\n%s", got[:min(len(got), 300)])
		}
	})
	t.Run("spamd down", func(t *testing.T) {
		s := newSetup(t, "spamd=127.0.0.1:1\n")
		r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
		if r.code != int(qmail.TempFail) || !logMatch(logLine(t, r.stderr), "TEMPFAIL:spam_ spamd_ no daemon available") {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
		s.assertWorkEmpty()
	})
	t.Run("spamd down, spamd_on_error=pass", func(t *testing.T) {
		s := newSetup(t, "spamd=127.0.0.1:1\nspamd_on_error=pass\n")
		r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
		if r.code != 0 || len(r.records) != 1 || string(r.records[0].Msg) != testenv.CleanMessage {
			t.Errorf("exit %d\n%s", r.code, r.stderr)
		}
	})
}

// silent accepts connections and never answers.
func silent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestDaemonThatNeverAnswers(t *testing.T) {
	for _, key := range []string{"clamd", "spamd"} {
		t.Run(key, func(t *testing.T) {
			s := newSetup(t, fmt.Sprintf("%s=%s\nscan_timeout=2s\n", key, silent(t)))
			start := time.Now()
			r := s.run(delivery{msg: strings.NewReader(testenv.CleanMessage), env: env1})
			took := time.Since(start)
			if r.code != int(qmail.TempFail) || !strings.Contains(logLine(t, r.stderr), ":TEMPFAIL:") {
				t.Errorf("exit %d\n%s", r.code, r.stderr)
			}
			if took > 3*time.Second {
				t.Errorf("took %v with scan_timeout=2s", took)
			}
			s.assertWorkEmpty()
		})
	}
}

// logMatch reports whether a log line has the state and detail given as
// "STATE:DETAIL", around the elapsed-time field between them.
func logMatch(line, stateDetail string) bool {
	state, detail, _ := strings.Cut(stateDetail, ":")
	re := regexp.MustCompile(`^simscan:\[\d+\]:` + regexp.QuoteMeta(state) + `:\d+\.\d{4}s:` + regexp.QuoteMeta(detail))
	return re.MatchString(line)
}
