package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

const attachText = "Your email was rejected because it contains a bad attachment: invoice.exe"

func attachSetup(t *testing.T, conf string) *setup {
	s := newSetup(t, conf)
	if err := os.WriteFile(filepath.Join(s.control, "ssattach"), []byte(".exe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRefusalCustomText(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		d        delivery
		code     qmail.ExitCode
		err4     string
		err6     string
		reply    string
		state    string
		recorded int
	}{
		{"auto, fd 4 and fd 6 open", "", delivery{errFDs: true}, qmail.CustomError,
			"D" + attachText, "D" + attachText, "554 " + attachText, ":ATTACH:", 0},
		{"auto, only fd 4 open", "", delivery{errFD4: true}, qmail.CustomError,
			"D" + attachText, "", "554 " + attachText, ":ATTACH:", 0},
		{"auto, no error fd", "", delivery{}, qmail.PermFail,
			"", "", "554 mail server permanently rejected message (#5.3.0)", ":ATTACH:", 0},
		{"error_fd=6", "error_fd=6\n", delivery{errFDs: true}, qmail.CustomError,
			"", "D" + attachText, "554 " + attachText, ":ATTACH:", 0},
		{"custom_reject=no", "custom_reject=no\n", delivery{errFDs: true}, qmail.PermFail,
			"", "", "554 mail server permanently rejected message (#5.3.0)", ":ATTACH:", 0},
		{"dropmsg", "dropmsg=yes\n", delivery{errFDs: true}, qmail.OK,
			"", "", "250 ok", ":ATTACH DROPPED:", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := attachSetup(t, tt.conf)
			d := tt.d
			d.msg = strings.NewReader(attachMsg)
			d.env = "Fa@example.org\x00Tc@example.com\x00\x00"
			r := s.run(d)
			if r.code != int(tt.code) || r.err4 != tt.err4 || r.err6 != tt.err6 {
				t.Errorf("exit %d fd4 %q fd6 %q; want %d %q %q\n%s", r.code, r.err4, r.err6, tt.code, tt.err4, tt.err6, r.stderr)
			}
			if r.reply() != tt.reply {
				t.Errorf("reply %q, want %q", r.reply(), tt.reply)
			}
			if line := logLine(t, r.stderr); !strings.Contains(line, tt.state) || !strings.Contains(line, "invoice.exe") {
				t.Errorf("log line %q", line)
			}
			if len(r.records) != tt.recorded {
				t.Errorf("%d deliveries, want %d", len(r.records), tt.recorded)
			}
			s.assertWorkEmpty()
		})
	}
}

func TestFailingQmailQueueLeavesNoWorkDir(t *testing.T) {
	s := newSetup(t, "received=yes\n")
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00", recExit: 53, environ: []string{"RECORDER_NOREAD=1"}})
	if r.code != 53 {
		t.Errorf("exit %d, want 53", r.code)
	}
	s.assertWorkEmpty()
}

func TestNextRunRemovesStaleWorkDirs(t *testing.T) {
	s := newSetup(t, "stale_age=1h\n")
	stale := filepath.Join(s.work, "1700000000.000001.99.0badc0de") // a process killed in 2023
	if err := os.MkdirAll(stale, 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "msg"), []byte("half a message"), 0o640)
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00"})
	if r.code != 0 || !strings.Contains(r.stderr, "removed stale work directory "+stale) {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	s.assertWorkEmpty()
}

// A log pipe whose reader is gone must not cost the message.
func TestBrokenStderr(t *testing.T) {
	s := newSetup(t, "")
	msg, err := os.CreateTemp(t.TempDir(), "msg")
	if err != nil {
		t.Fatal(err)
	}
	msg.WriteString(cleanMsg)
	msg.Seek(0, 0)
	envR, envW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	errR.Close() // nobody reads the log
	cmd := exec.Command(simscanBin)
	cmd.Env = []string{"SIMSCAN_CONTROLDIR=" + s.control, "RECORDER_DIR=" + s.recorded}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = msg, envR, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	envR.Close()
	errW.Close()
	envW.WriteString("Fa@b\x00Tc@d\x00\x00")
	envW.Close()
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("simscan with a broken log pipe: %v", err)
	}
	if recs := testenv.ReadRecorded(t, s.recorded); len(recs) != 1 || string(recs[0].Msg) != cleanMsg {
		t.Errorf("%d deliveries", len(recs))
	}
	s.assertWorkEmpty()
}

// A message that cannot be read is qmail-queue's 54, before any work
// directory is left behind.
func TestMessageReadError(t *testing.T) {
	s := newSetup(t, "")
	dir, err := os.Open(t.TempDir()) // reading a directory fails with EISDIR
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	envR, envW, _ := os.Pipe()
	var stderr strings.Builder
	cmd := exec.Command(simscanBin)
	cmd.Env = []string{"SIMSCAN_CONTROLDIR=" + s.control, "RECORDER_DIR=" + s.recorded}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = dir, envR, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	envR.Close()
	envW.WriteString("Fa@b\x00Tc@d\x00\x00")
	envW.Close()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != int(qmail.ReadError) || !logMatch(logLine(t, stderr.String()), "TEMPFAIL:message_ read") {
		t.Errorf("exit %d\n%s", code, stderr.String())
	}
	if recs := testenv.ReadRecorded(t, s.recorded); len(recs) != 0 {
		t.Error("unreadable message queued")
	}
	s.assertWorkEmpty()
}
