package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

// simscanBin is the binary under test, built once by TestMain.
var simscanBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "simscan-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	simscanBin = filepath.Join(dir, "simscan")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=test", "-o", simscanBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build simscan: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup is one installation: a control directory, a work directory and the
// recording qmail-queue.
type setup struct {
	t        *testing.T
	control  string
	work     string
	recorded string
	recorder string
}

func newSetup(t *testing.T, conf string) *setup {
	t.Helper()
	base := t.TempDir()
	s := &setup{
		t:        t,
		control:  filepath.Join(base, "control"),
		work:     filepath.Join(base, "work"),
		recorded: filepath.Join(base, "recorded"),
		recorder: testenv.BuildRecorder(t),
	}
	for _, d := range []string{s.control, s.work, s.recorded} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.writeConf(conf)
	return s
}

func (s *setup) writeConf(extra string) {
	conf := fmt.Sprintf("workdir=%s\nqmailqueue=%s\n%s", s.work, s.recorder, extra)
	if err := os.WriteFile(filepath.Join(s.control, "simscan.conf"), []byte(conf), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// delivery is how simscan is run: as qmail-smtpd runs it.
type delivery struct {
	msg      io.Reader // fd 0
	env      string    // fd 1
	environ  []string  // beyond SIMSCAN_CONTROLDIR and RECORDER_*
	errFDs   bool      // pipes at fd 4 and fd 6, as a patched qmail-smtpd has
	errFD4   bool      // only fd 4
	recExit  int
	noStdin  bool // never close fd 0 (for signal tests)
	onStart  func(cmd *exec.Cmd)
	controlE string // SIMSCAN_CONTROLDIR override; default the setup's
}

type result struct {
	code    int
	stderr  string
	err4    string // text on fd 4
	err6    string // text on fd 6
	records []testenv.Recorded
}

// reply is what the SMTP client would see from qmail-smtpd with the
// custom-error patch.
func (r result) reply() string {
	if r.code == int(qmail.CustomError) {
		text := r.err4
		if text == "" {
			text = r.err6
		}
		return qmail.CustomReply(text)
	}
	return qmail.SMTPReply(qmail.ExitCode(r.code))
}

func (s *setup) run(d delivery) result {
	s.t.Helper()
	cmd := exec.Command(simscanBin)
	ctl := s.control
	if d.controlE != "" {
		ctl = d.controlE
	}
	cmd.Env = append([]string{
		"SIMSCAN_CONTROLDIR=" + ctl,
		"RECORDER_DIR=" + s.recorded,
		fmt.Sprintf("RECORDER_EXIT=%d", d.recExit),
		"PATH=/usr/bin:/bin",
	}, d.environ...)
	msgR, msgW, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	envR, envW, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout = msgR, envR
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var e4r, e4w, e6r, e6w *os.File
	if d.errFDs || d.errFD4 {
		e4r, e4w, _ = os.Pipe()
		cmd.ExtraFiles = []*os.File{nil, e4w}
		if d.errFDs {
			e6r, e6w, _ = os.Pipe()
			cmd.ExtraFiles = append(cmd.ExtraFiles, nil, e6w)
		}
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	msgR.Close()
	envR.Close()
	for _, f := range []*os.File{e4w, e6w} {
		if f != nil {
			f.Close()
		}
	}
	// qmail-smtpd writes the message, closes it, then writes the envelope.
	go func() {
		if d.msg != nil {
			io.Copy(msgW, d.msg)
		}
		if !d.noStdin {
			msgW.Close()
		}
		io.WriteString(envW, d.env)
		envW.Close()
	}()
	if d.onStart != nil {
		d.onStart(cmd)
	}
	err = cmd.Wait()
	if d.noStdin {
		msgW.Close()
	}
	r := result{stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	for _, p := range []struct {
		f   *os.File
		dst *string
	}{{e4r, &r.err4}, {e6r, &r.err6}} {
		if p.f != nil {
			b, _ := io.ReadAll(p.f)
			*p.dst = string(b)
			p.f.Close()
		}
	}
	r.records = testenv.ReadRecorded(s.t, s.recorded)
	return r
}

// assertWorkEmpty checks that no work directory was left behind.
func (s *setup) assertWorkEmpty() {
	s.t.Helper()
	ents, err := os.ReadDir(s.work)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(ents) != 0 {
		s.t.Errorf("work directory left behind: %v", ents)
	}
}

func logLine(t *testing.T, stderr string) string {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "simscan:[") {
			return l
		}
	}
	t.Fatalf("no log line in stderr:\n%s", stderr)
	return ""
}

const cleanMsg = "From: a@example.org\nTo: c@example.com\nSubject: Hello: world\nDate: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nJust a note.\n"

func TestPassThrough(t *testing.T) {
	s := newSetup(t, "")
	env := "Fa@example.org\x00Tc@example.com\x00TD@Example.COM\x00\x00"
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: env, environ: []string{"TCPREMOTEIP=192.0.2.9"}})
	if r.code != 0 || r.reply() != "250 ok" {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if len(r.records) != 1 {
		t.Fatalf("%d deliveries, want 1", len(r.records))
	}
	if string(r.records[0].Msg) != cleanMsg || string(r.records[0].Env) != env {
		t.Errorf("message or envelope changed:\n%q\n%q", r.records[0].Msg, r.records[0].Env)
	}
	want := ":CLEAN:"
	line := logLine(t, r.stderr)
	if !strings.Contains(line, want) || !strings.HasSuffix(line, ":Hello_ world:192.0.2.9:a@example.org:c@example.com,D@Example.COM") {
		t.Errorf("log line %q", line)
	}
	s.assertWorkEmpty()
}

func TestNullSenderAndReceived(t *testing.T) {
	s := newSetup(t, "received=yes\n")
	env := "F\x00Tc@example.com\x00\x00"
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: env})
	if r.code != 0 || len(r.records) != 1 {
		t.Fatalf("exit %d, %d deliveries, stderr %s", r.code, len(r.records), r.stderr)
	}
	got := string(r.records[0].Msg)
	if !strings.HasPrefix(got, "Received: (simscan test ppid ") || !strings.Contains(got, "\n (scanners: none); ") || !strings.HasSuffix(got, "\n"+cleanMsg) {
		t.Errorf("delivered message:\n%s", got)
	}
	hdr, _, _ := strings.Cut(got, "\n (scanners: none); ")
	date, _, _ := strings.Cut(strings.SplitN(got, "); ", 2)[1], "\n")
	if _, err := time.Parse("Mon, 02 Jan 2006 15:04:05 -0700", date); err != nil {
		t.Errorf("date %q in %q: %v", date, hdr, err)
	}
	if string(r.records[0].Env) != env {
		t.Errorf("envelope %q", r.records[0].Env)
	}
	s.assertWorkEmpty()
}

func TestEnvelopeErrors(t *testing.T) {
	long := strings.Repeat("x", 1001)
	tests := []struct {
		name string
		env  string
		code qmail.ExitCode
	}{
		{"no sender", "Tc@d\x00\x00", qmail.BadEnvelope},
		{"repeated sender", "Fa@b\x00Fa@b\x00Tc@d\x00\x00", qmail.BadEnvelope},
		{"no recipient", "Fa@b\x00\x00", qmail.BadEnvelope},
		{"unknown record", "Fa@b\x00Qc@d\x00\x00", qmail.BadEnvelope},
		{"truncated", "Fa@b\x00Tc@d\x00", qmail.ReadError},
		{"empty", "", qmail.ReadError},
		{"address too long", "Fa@b\x00T" + long + "\x00\x00", qmail.AddressTooLong},
	}
	s := newSetup(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: tt.env, errFDs: true})
			if r.code != int(tt.code) {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, tt.code, r.stderr)
			}
			if len(r.records) != 0 {
				t.Error("message queued")
			}
			line := logLine(t, r.stderr)
			if !strings.Contains(line, "envelope") {
				t.Errorf("log line does not name the envelope: %s", line)
			}
			s.assertWorkEmpty()
		})
	}
}

func TestQmailQueueExitCodes(t *testing.T) {
	s := newSetup(t, "")
	for _, code := range []int{0, 11, 31, 51, 52, 53, 54, 71, 81, 91, 42} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00", recExit: code, errFDs: true})
			if r.code != code {
				t.Errorf("exit %d, want %d (%s)", r.code, code, r.stderr)
			}
			if r.reply() != qmail.SMTPReply(qmail.ExitCode(code)) {
				t.Errorf("reply %q", r.reply())
			}
			if len(r.records) != 1 {
				t.Errorf("%d deliveries", len(r.records))
			}
			s.assertWorkEmpty()
			os.RemoveAll(s.recorded)
			os.Mkdir(s.recorded, 0o755)
		})
	}
}

func TestQmailQueueMissing(t *testing.T) {
	s := newSetup(t, "")
	s.writeConf("")
	os.WriteFile(filepath.Join(s.control, "simscan.conf"), []byte("workdir="+s.work+"\nqmailqueue=/nonexistent/qmail-queue\n"), 0o644)
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00"})
	if r.code != int(qmail.TempFail) || !strings.Contains(r.stderr, "/nonexistent/qmail-queue") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
	s.assertWorkEmpty()
}

func TestBadConfig(t *testing.T) {
	s := newSetup(t, "spam_hits=many\n")
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00"})
	if r.code != int(qmail.TempFail) || len(r.records) != 0 {
		t.Fatalf("exit %d, %d deliveries", r.code, len(r.records))
	}
	if !strings.Contains(r.stderr, "simscan.conf:3: spam_hits") {
		t.Errorf("stderr does not name file and line: %s", r.stderr)
	}
	s.assertWorkEmpty()
}

func TestLargeMessages(t *testing.T) {
	s := newSetup(t, "")
	for _, size := range []int64{1 << 20, 100 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			gen := func() io.Reader { return io.LimitReader(&pattern{}, size) }
			want := sha256.New()
			io.Copy(want, gen())
			r := s.run(delivery{msg: gen(), env: "Fa@b\x00Tc@d\x00\x00"})
			if r.code != 0 || len(r.records) != 1 {
				t.Fatalf("exit %d, %d deliveries: %s", r.code, len(r.records), r.stderr)
			}
			got := sha256.Sum256(r.records[0].Msg)
			if !bytes.Equal(got[:], want.Sum(nil)) || int64(len(r.records[0].Msg)) != size {
				t.Errorf("message of %d bytes changed on the way", size)
			}
			s.assertWorkEmpty()
			os.RemoveAll(s.recorded)
			os.Mkdir(s.recorded, 0o755)
		})
	}
}

// pattern is an endless stream of mail-like lines.
type pattern struct{ n int }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		if p.n%77 == 76 {
			b[i] = '\n'
		} else {
			b[i] = byte('A' + p.n%26)
		}
		p.n++
	}
	return len(b), nil
}

func TestManyRecipients(t *testing.T) {
	s := newSetup(t, "")
	var env strings.Builder
	env.WriteString("Fbulk@example.org\x00")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&env, "Tuser%d@example.com\x00", i)
	}
	env.WriteByte(0)
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: env.String()})
	if r.code != 0 || len(r.records) != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr[:min(len(r.stderr), 500)])
	}
	if string(r.records[0].Env) != env.String() {
		t.Error("envelope of 10,000 recipients changed on the way")
	}
	s.assertWorkEmpty()
}

func TestSignalsRemoveWorkDir(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			s := newSetup(t, "")
			r := s.run(delivery{
				msg:     strings.NewReader("Subject: never ends\n\n"),
				noStdin: true,
				onStart: func(cmd *exec.Cmd) {
					// Wait until the work directory exists, then signal.
					deadline := time.Now().Add(10 * time.Second)
					for time.Now().Before(deadline) {
						if ents, _ := os.ReadDir(s.work); len(ents) > 0 {
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
					cmd.Process.Signal(sig)
				},
			})
			if r.code != int(qmail.TempFail) {
				t.Errorf("exit %d, want 71; stderr %s", r.code, r.stderr)
			}
			if !strings.Contains(logLine(t, r.stderr), ":TEMPFAIL:") {
				t.Errorf("log line %s", r.stderr)
			}
			if len(r.records) != 0 {
				t.Error("message queued")
			}
			s.assertWorkEmpty()
		})
	}
}

func TestDebugFilesKeepsWorkDir(t *testing.T) {
	s := newSetup(t, "")
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00", environ: []string{"SIMSCAN_DEBUG_FILES=1", "SIMSCAN_DEBUG=2"}})
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	ents, _ := os.ReadDir(s.work)
	if len(ents) != 1 || !strings.Contains(r.stderr, "keeping work directory "+filepath.Join(s.work, ents[0].Name())) {
		t.Fatalf("work directory not kept or not logged: %v\n%s", ents, r.stderr)
	}
	msg, err := os.ReadFile(filepath.Join(s.work, ents[0].Name(), "msg"))
	if err != nil || string(msg) != cleanMsg {
		t.Errorf("kept msg %q %v", msg, err)
	}
	if !strings.Contains(r.stderr, "simscan: debug: ") {
		t.Errorf("no debug lines with SIMSCAN_DEBUG=2:\n%s", r.stderr)
	}
}

func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(simscanBin, "-v").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "simscan test" {
		t.Errorf("simscan -v: %q %v", out, err)
	}
}
