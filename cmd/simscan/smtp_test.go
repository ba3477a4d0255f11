package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/internal/testenv"
)

// These tests put a real SMTP server in front of simscan: Debian's qpsmtpd
// with its queue/qmail-queue plugin running simscan as the queue program.
// qpsmtpd has no custom-error fd and answers 451 for every non-zero exit.

const attachMsg = "From: a@example.org\nTo: c@example.com\nSubject: invoice\nDate: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <2@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream; name=\"invoice.exe\"\nContent-Disposition: attachment; filename=\"invoice.exe\"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n--b1--\n"

func TestThroughQpsmtpd(t *testing.T) {
	s := newSetup(t, "")
	if err := os.WriteFile(filepath.Join(s.control, "ssattach"), []byte(".exe\n.scr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := testenv.StartQpsmtpd(t, simscanBin, []string{"SIMSCAN_CONTROLDIR=" + s.control, "RECORDER_DIR=" + s.recorded})

	t.Run("clean mail, null sender, three recipients", func(t *testing.T) {
		rcpts := []string{"a@x.example", "b@y.example", "c@z.example"}
		code, text, err := testenv.SendMail(t, q.Addr(), "", rcpts, []byte(cleanMsg))
		if err != nil || code != 250 || !strings.HasPrefix(text, testenv.QpsmtpdQueuedPrefix) {
			t.Fatalf("reply %d %q, %v", code, text, err)
		}
		recs := testenv.ReadRecorded(t, s.recorded)
		if len(recs) != 1 {
			t.Fatalf("%d deliveries", len(recs))
		}
		if got, want := string(recs[0].Env), "F\x00Ta@x.example\x00Tb@y.example\x00Tc@z.example\x00\x00"; got != want {
			t.Errorf("envelope %q, want %q", got, want)
		}
		body := testenv.QpsmtpdHeaders.ReplaceAllString(string(recs[0].Msg), "")
		if body != cleanMsg {
			t.Errorf("message changed:\n%q\nwant\n%q", body, cleanMsg)
		}
		os.RemoveAll(s.recorded)
		os.Mkdir(s.recorded, 0o755)
	})

	t.Run("refused attachment", func(t *testing.T) {
		code, text, _ := testenv.SendMail(t, q.Addr(), "a@example.org", []string{"c@example.com"}, []byte(attachMsg))
		if code != 451 || text != "Unable to queue message (31)" {
			t.Errorf("reply %d %q, want 451 Unable to queue message (31)", code, text)
		}
		if recs := testenv.ReadRecorded(t, s.recorded); len(recs) != 0 {
			t.Errorf("refused message delivered")
		}
		log, _ := os.ReadFile(q.Log)
		if !strings.Contains(string(log), ":ATTACH:") || !strings.Contains(string(log), "invoice.exe") {
			t.Errorf("no ATTACH log line in qpsmtpd's log:\n%s", log)
		}
	})
	s.assertWorkEmpty()
}
