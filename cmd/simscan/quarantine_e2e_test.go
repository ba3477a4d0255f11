package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gosimscan/simscan/qmail"
	"github.com/gosimscan/simscan/quarantine"
)

func TestQuarantineKeepsRefusedMessage(t *testing.T) {
	for _, conf := range []string{"", "dropmsg=yes\n"} {
		qdir := filepath.Join(t.TempDir(), "quarantine")
		s := attachSetup(t, "quarantine_dir="+qdir+"\nquarantine_classes=attach\n"+conf)
		r := s.run(delivery{msg: strings.NewReader(attachMsg), env: "Fa@example.org\x00Tc@example.com\x00Td@example.com\x00\x00", environ: []string{"TCPREMOTEIP=192.0.2.5"}})
		want := qmail.PermFail
		if conf != "" {
			want = qmail.OK
		}
		if r.code != int(want) || len(r.records) != 0 {
			t.Fatalf("%q: exit %d, %d deliveries; want %d, none\n%s", conf, r.code, len(r.records), want, r.stderr)
		}
		metas, err := quarantine.List(qdir, quarantine.Filter{})
		if err != nil || len(metas) != 1 {
			t.Fatalf("%q: %d entries, %v", conf, len(metas), err)
		}
		m := metas[0]
		if m.Class != "attach" || m.Detail != "invoice.exe" || m.From != "a@example.org" || strings.Join(m.To, " ") != "c@example.com d@example.com" ||
			m.RemoteIP != "192.0.2.5" || m.Version != "test" || m.Size != int64(len(attachMsg)) {
			t.Errorf("%q: meta %+v", conf, m)
		}
		got, _ := os.ReadFile(filepath.Join(qdir, m.ID, quarantine.MessageFile))
		if !bytes.Equal(got, []byte(attachMsg)) {
			t.Errorf("%q: stored message differs", conf)
		}
		s.assertWorkEmpty()
	}
}

// TestQuarantineFullDisk: when the copy cannot be stored, simscan answers
// with a temporary failure (71) instead of refusing or dropping, so the
// sender keeps the message.
func TestQuarantineFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	qdir := filepath.Join(t.TempDir(), "quarantine")
	if err := os.Mkdir(qdir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", qdir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(qdir, 0) })
	big := attachMsg + strings.Repeat("padding line to fill the quarantine\n", 4000)
	for _, conf := range []string{"", "dropmsg=yes\n"} {
		s := attachSetup(t, "quarantine_dir="+qdir+"\nquarantine_classes=attach\n"+conf)
		r := s.run(delivery{msg: strings.NewReader(big), env: "Fa@example.org\x00Tc@example.com\x00\x00", errFDs: true})
		if r.code != int(qmail.TempFail) || r.err4 != "" || len(r.records) != 0 {
			t.Errorf("%q: exit %d, fd4 %q, %d deliveries; want 71, no text, none\n%s", conf, r.code, r.err4, len(r.records), r.stderr)
		}
		if line := logLine(t, r.stderr); !strings.Contains(line, ":TEMPFAIL:") || !strings.Contains(line, "no space left on device") {
			t.Errorf("%q: log line %q", conf, line)
		}
		if ents, _ := os.ReadDir(qdir); len(ents) != 0 {
			t.Errorf("%q: quarantine holds %v", conf, ents)
		}
		s.assertWorkEmpty()
	}
}
