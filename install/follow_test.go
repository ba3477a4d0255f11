package install

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/quarantine"
)

// The walk-through in INSTALL is the sequence of fenced blocks opened with
// "```sh follow" or "```sh follow status=N" and closed with "```". Other
// fenced blocks are examples that depend on the admin's machine.
var (
	followFence = regexp.MustCompile("^```sh follow(?: status=([0-9]+))?$")
	anyFence    = regexp.MustCompile("^```")
)

// followStep is one walk-through block of INSTALL.
type followStep struct {
	line   int    // line of the opening fence
	status int    // the exit status the block's one command must have
	text   string // the commands, as an admin types them
}

// parseFollow returns the walk-through blocks of an INSTALL file. A fence
// that mentions "follow" without matching followFence is an error, so a
// typo cannot silently drop a step; so is a block left open, and a
// status= block holding more than one command.
func parseFollow(data string) ([]followStep, error) {
	var steps []followStep
	var cur *followStep
	inFence := false
	for i, line := range strings.Split(data, "\n") {
		n := i + 1
		if !anyFence.MatchString(line) {
			if cur != nil {
				cur.text += line + "\n"
			}
			continue
		}
		if inFence {
			if line != "```" {
				return nil, fmt.Errorf("INSTALL:%d: %q inside a fenced block; close blocks with a bare ```", n, line)
			}
			if cur != nil {
				steps = append(steps, *cur)
				cur = nil
			}
			inFence = false
			continue
		}
		inFence = true
		m := followFence.FindStringSubmatch(line)
		if m == nil {
			if strings.Contains(line, "follow") {
				return nil, fmt.Errorf("INSTALL:%d: %q: a walk-through block opens with ```sh follow or ```sh follow status=N", n, line)
			}
			continue
		}
		cur = &followStep{line: n}
		if m[1] != "" {
			cur.status, _ = strconv.Atoi(m[1])
		}
	}
	if inFence {
		return nil, errors.New("INSTALL: the last fenced block is not closed")
	}
	for _, s := range steps {
		if strings.TrimSpace(s.text) == "" {
			return nil, fmt.Errorf("INSTALL:%d: empty walk-through block", s.line)
		}
		if s.status != 0 && len(commandLines(s.text)) != 1 {
			return nil, fmt.Errorf("INSTALL:%d: a status=%d block must hold exactly one command, so that the status is that command's", s.line, s.status)
		}
	}
	return steps, nil
}

// commandLines returns the lines of a block that are neither blank nor
// shell comments.
func commandLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, l)
		}
	}
	return out
}

// followPaths are the places and names the walk-through uses on a real
// machine, replaced for the test. INSTALL section 14 lists them; keep the
// two in step. Order matters only where one string contains another.
type followPaths struct {
	qmail    string // for /var/qmail
	clamd    string // for /var/run/clamav/clamd.ctl
	spamd    string // for 127.0.0.1:783
	tcpSMTP  string // for /etc/tcp.smtp
	userName string // for the simscan account in "-o simscan -g simscan"
}

func (p followPaths) substitutions() [][2]string {
	return [][2]string{
		{"/var/run/clamav/clamd.ctl", p.clamd},
		{"127.0.0.1:783", p.spamd},
		{"/var/qmail", p.qmail},
		{"/etc/tcp.smtp", p.tcpSMTP},
		{"-o simscan -g simscan", "-o " + p.userName + " -g " + p.userName},
	}
}

// followForbidden are things a walk-through block must not contain once
// the substituted strings are taken out: the test runs the blocks as root
// on a CI machine, and they must not reach the machine's own qmail,
// daemons, services or accounts.
var followForbidden = []string{"/var/", "/run/", "/etc/", "/service", "systemctl", "apt-get", "usermod", "svc ", "sudo ", "~"}

// checkFollowSteps checks what the test relies on: the steps an admin
// must not miss are there, every substitution has something to replace,
// and nothing reaches outside the test's directory.
func checkFollowSteps(steps []followStep, subst [][2]string) error {
	var all strings.Builder
	for _, s := range steps {
		all.WriteString(s.text)
	}
	text := all.String()
	var errs []error
	for _, want := range []string{"make\n", "make install", "simscan.conf", "simscanmk -c", "simscanmk -g", "simscanmk\n",
		"simcontrol", "tcprules", "simscanctl check", "/var/qmail/bin/simscan <", "simscanctl quarantine list", "simscanctl cleanup"} {
		if !strings.Contains(text, want) {
			errs = append(errs, fmt.Errorf("the walk-through has no step with %q", want))
		}
	}
	for _, s := range subst {
		if !strings.Contains(text, s[0]) {
			errs = append(errs, fmt.Errorf("the walk-through never uses %q; remove its substitution here and in INSTALL section 14", s[0]))
		}
	}
	for _, s := range steps {
		rest := s.text
		for _, sub := range subst {
			rest = strings.ReplaceAll(rest, sub[0], "")
		}
		for _, bad := range followForbidden {
			if strings.Contains(rest, bad) {
				errs = append(errs, fmt.Errorf("INSTALL:%d: the walk-through block contains %q, which the test cannot redirect: put machine-specific steps in a plain ```sh block", s.line, bad))
			}
		}
	}
	return errors.Join(errs...)
}

// followScript turns the steps into one shell script. Each block runs as
// written after substitution, under set -e; a status=N block runs with
// set +e and its status is compared with N. The script says which
// INSTALL line it stopped at.
func followScript(steps []followStep, subst [][2]string, header []string, dir string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# The walk-through of INSTALL, extracted by install/follow_test.go.\nset -e\n")
	for _, h := range header {
		b.WriteString("export " + h + "\n")
	}
	b.WriteString("follow_line=0\n")
	b.WriteString(`trap 'follow_st=$?; if [ $follow_st -ne 0 ]; then echo "follow: stopped in the block at INSTALL line $follow_line (exit $follow_st)" >&2; fi' EXIT` + "\n")
	b.WriteString("cd " + shq(dir) + "\n")
	for _, s := range steps {
		text := s.text
		for _, sub := range subst {
			text = strings.ReplaceAll(text, sub[0], sub[1])
		}
		fmt.Fprintf(&b, "\n# INSTALL line %d\nfollow_line=%d\necho '>>> INSTALL line %d'\n", s.line, s.line, s.line)
		if s.status == 0 {
			b.WriteString(text)
			continue
		}
		b.WriteString("set +e\n")
		b.WriteString(text)
		fmt.Fprintf(&b, "follow_status=$?\nset -e\necho \">>> exit $follow_status\"\n")
		fmt.Fprintf(&b, "if [ \"$follow_status\" -ne %d ]; then echo \"follow: INSTALL line %d: exit $follow_status, want %d\" >&2; exit 1; fi\n", s.status, s.line, s.status)
	}
	b.WriteString("\necho '>>> walk-through done'\n")
	return b.String()
}

// shq quotes s for sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func readInstallFile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "INSTALL"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestFollowBlocks checks the walk-through's markup without running it.
func TestFollowBlocks(t *testing.T) {
	steps, err := parseFollow(readInstallFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 10 {
		t.Fatalf("%d walk-through blocks in INSTALL, want the whole walk-through", len(steps))
	}
	p := followPaths{qmail: "/q", clamd: "/c", spamd: "s:1", tcpSMTP: "/t", userName: "u"}
	if err := checkFollowSteps(steps, p.substitutions()); err != nil {
		t.Error(err)
	}

	bad := []struct{ name, text string }{
		{"typo in the fence", "```sh  follow\nls\n```\n"},
		{"unclosed", "```sh follow\nls\n"},
		{"status block with two commands", "```sh follow status=1\ncd x\nfalse\n```\n"},
		{"fence inside a block", "```sh follow\nls\n```text\n```\n"},
	}
	for _, b := range bad {
		if _, err := parseFollow(b.text); err == nil {
			t.Errorf("%s: parsed without error", b.name)
		}
	}
	good, err := parseFollow("text\n```sh\nnot this\n```\n```sh follow\n# a comment\nls\n```\n```sh follow status=31\nfalse\n```\n")
	if err != nil || len(good) != 2 || good[0].line != 5 || good[0].text != "# a comment\nls\n" || good[1].status != 31 {
		t.Errorf("parsed %+v, %v", good, err)
	}
}

// followEnv is the machine the walk-through runs on.
type followEnv struct {
	root     string // public temporary directory holding the rest
	src      string // the copy of the source tree, where the admin builds
	qmail    string // stands for /var/qmail
	user     string // the simscan account's name
	clamd    *testenv.Clamd
	spamd    *testenv.Spamd
	recorded string // RECORDER_DIR of the script's own runs
	nobody   account
}

// TestFollowInstall follows INSTALL as an admin would: the walk-through
// blocks run in order as one shell script, as root, with the substitutions
// of followPaths and a real clamd and spamd. Then the installed simscan
// must really scan: it is fed a clean message, EICAR, GTUBE and a banned
// attachment as qmail-smtpd feeds it (message on fd 0, envelope on a pipe
// at fd 1, an error pipe at fd 4, run by an unprivileged user), with the
// recording fake qmail-queue standing in for qmail's.
func TestFollowInstall(t *testing.T) {
	requireRoot(t)
	steps, err := parseFollow(readInstallFile(t))
	if err != nil {
		t.Fatal(err)
	}

	env := &followEnv{clamd: testenv.StartClamd(t), spamd: testenv.StartSpamd(t)}
	env.root = publicTempDir(t, "simscan-follow-", 0o755)
	env.src = mkdir(t, filepath.Join(env.root, "src"), 0o755)
	env.qmail = filepath.Join(env.root, "qmail")
	env.recorded = mkdir(t, filepath.Join(env.root, "recorded"), 0o777)
	env.nobody = lookupAccount(t, "nobody")
	copyTree(t, moduleRoot(t), env.src)
	mkdir(t, filepath.Join(env.root, "etc"), 0o755)
	tmp := mkdir(t, filepath.Join(env.root, "tmp"), 0o755)

	// qmail is installed before simscan: its bin directory, with the
	// recording qmail-queue in place of the real one.
	bin := mkdir(t, filepath.Join(env.qmail, "bin"), 0o755)
	rec, err := os.ReadFile(testenv.BuildRecorder(t))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(bin, "qmail-queue"), string(rec), 0o755)

	var rnd [4]byte
	rand.Read(rnd[:])
	env.user = "ssf" + hex.EncodeToString(rnd[:])
	if _, err := user.Lookup(env.user); err == nil {
		t.Fatalf("user %s exists already", env.user)
	}
	t.Cleanup(func() {
		exec.Command("userdel", env.user).Run()
		exec.Command("groupdel", env.user).Run()
	})

	paths := followPaths{
		qmail:    env.qmail,
		clamd:    env.clamd.Unix,
		spamd:    env.spamd.TCP,
		tcpSMTP:  filepath.Join(env.root, "etc", "tcp.smtp"),
		userName: env.user,
	}
	subst := paths.substitutions()
	if err := checkFollowSteps(steps, subst); err != nil {
		t.Fatal(err)
	}
	header := []string{
		"QMAILDIR=" + shq(env.qmail),
		"SIMSCAN_USER=" + env.user,
		"SIMSCAN_GROUP=" + env.user,
		"TMPDIR=" + shq(tmp),
		"RECORDER_DIR=" + shq(env.recorded),
	}
	script := followScript(steps, subst, header, env.src)
	scriptPath := filepath.Join(env.root, "follow.sh")
	writeFile(t, scriptPath, script, 0o755)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", scriptPath)
	cmd.Dir = env.src
	path := filepath.Dir(goTool(t)) + ":" + os.Getenv("PATH") + ":/usr/local/sbin:/usr/sbin:/sbin"
	cmd.Env = append(cleanEnviron(), "PATH="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("following INSTALL failed: %v\n--- the script (from INSTALL's ```sh follow blocks) ---\n%s\n--- its output ---\n%s", err, numbered(script), out)
	}
	t.Logf("the walk-through's output:\n%s", out)

	env.checkSetup(t, string(out))
	env.checkScanning(t)
}

// numbered prefixes each line of a script with its number.
func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// checkSetup checks what the walk-through left behind: the installed
// binaries, the configuration naming the test's daemons, the compiled
// rules, and the output of the steps that report.
func (env *followEnv) checkSetup(t *testing.T, out string) {
	t.Helper()
	u := lookupAccount(t, env.user)
	checkFile(t, filepath.Join(env.qmail, "bin", "simscan"), u.uid, u.gid, 0o711|os.ModeSetuid)
	ctl := filepath.Join(env.qmail, "control")
	cfg, err := control.Load(ctl)
	if err != nil {
		t.Fatalf("simscan.conf after the walk-through: %v", err)
	}
	if cfg.Clamd != "unix:"+env.clamd.Unix || cfg.Spamd != env.spamd.TCP {
		t.Errorf("simscan.conf names clamd %q and spamd %q, want unix:%s and %s", cfg.Clamd, cfg.Spamd, env.clamd.Unix, env.spamd.TCP)
	}
	if !cfg.Received || cfg.QuarantineDir != filepath.Join(env.qmail, "simscan-quarantine") {
		t.Errorf("simscan.conf: received %v, quarantine_dir %q", cfg.Received, cfg.QuarantineDir)
	}
	for _, f := range []string{"simcontrol.cdb", "simversions.cdb"} {
		if _, err := os.Stat(filepath.Join(ctl, f)); err != nil {
			t.Errorf("the walk-through did not build %s: %v", f, err)
		}
	}
	for _, want := range []string{
		"simcontrol: 0 errors, 0 warnings",
		"built " + filepath.Join(ctl, "simcontrol.cdb"),
		"set environment variable QMAILQUEUE=",
		"verdict:  reject",
		":VIRUS:",
		"s:" + testenv.EICARName + "::tester@example.org:user@example.com\n",
		":SPAM REJECT (1000.",
		"stale work directories removed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the walk-through's output lacks %q", want)
		}
	}
	// The walk-through refused GTUBE by hand: quarantined as spam.
	q, err := quarantine.List(cfg.QuarantineDir, quarantine.Filter{Class: "spam"})
	if err != nil || len(q) != 1 {
		t.Errorf("quarantine after the walk-through: %d spam entries, %v; want 1", len(q), err)
	}
}

// followResult is one message given to the installed simscan.
type followResult struct {
	code    int
	stderr  string
	errText string // what simscan wrote to fd 4
	records []testenv.Recorded
}

// logLine returns simscan's log line from stderr.
func (r followResult) logLine(t *testing.T) string {
	t.Helper()
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "simscan:[") {
			return l
		}
	}
	t.Fatalf("no log line in simscan's stderr:\n%s", r.stderr)
	return ""
}

// feed runs the installed simscan as qmail-smtpd does: as an unprivileged
// user (nobody, for qmaild), with the message on fd 0, the envelope on a
// pipe at fd 1 and, if errPipe, the custom-error pipe at fd 4.
func (env *followEnv) feed(t *testing.T, msg string, errPipe bool) followResult {
	t.Helper()
	recDir := publicTempDir(t, "simscan-follow-rec-", 0o777)
	msgPath := filepath.Join(t.TempDir(), "msg")
	writeFile(t, msgPath, msg, 0o600)
	msgFile, err := os.Open(msgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer msgFile.Close()

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.qmail, "bin", "simscan"))
	cmd.Dir = publicTempDir(t, "simscan-follow-cwd-", 0o755)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TCPREMOTEIP=192.0.2.7", "RECORDER_DIR=" + recDir}
	cmd.Stdin = msgFile
	cmd.Stdout = envelopePipe(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(env.nobody.uid, env.nobody.gid)}
	var errR, errW *os.File
	if errPipe {
		if errR, errW, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		defer errR.Close()
		cmd.ExtraFiles = []*os.File{nil, errW} // fd 3 closed, fd 4 the pipe
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if errW != nil {
		errW.Close()
	}
	var errText []byte
	if errR != nil {
		errText, _ = io.ReadAll(errR)
	}
	err = cmd.Wait()
	r := followResult{stderr: stderr.String(), errText: string(errText)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running simscan: %v", err)
	}
	r.records = testenv.ReadRecorded(t, recDir)
	return r
}

// followAttachment is a message with one base64 attachment.
func followAttachment(name string, data []byte) string {
	return "From: Alice <alice@example.com>\nTo: Bob <bob@example.org>\nSubject: Files\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\nMessage-ID: <files@example.com>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"xx\"\n\n--xx\nContent-Type: text/plain\n\nHere.\n--xx\n" +
		"Content-Type: application/octet-stream; name=\"" + name + "\"\n" +
		"Content-Disposition: attachment; filename=\"" + name + "\"\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString(data) + "\n--xx--\n"
}

// checkScanning feeds the installed simscan the test messages.
func (env *followEnv) checkScanning(t *testing.T) {
	// simscan:[PPID]:STATE:T.TTTTs:DETAIL:TCPREMOTEIP:from:rcpts
	const logPrefix = `^simscan:\[[0-9]+\]:`
	const logSuffix = `:192\.0\.2\.7:sender@example\.net:rcpt@example\.com$`
	const elapsed = `:[0-9]+\.[0-9]{4}s:`
	gtube := strings.Replace(testenv.CleanMessage, "Alice\n", "Alice\n"+testenv.GTUBE+"\n", 1)
	virusText := "DYour email was rejected because it contains the " + testenv.EICARName + " virus"
	tests := []struct {
		name    string
		msg     string
		errPipe bool
		code    int
		errText string // a prefix
		state   string // a regular expression for the log line's state
		detail  string // the same for its detail
	}{
		{"clean", testenv.CleanMessage, true, 0, "", `CLEAN \([-0-9.]+/[0-9.]+/[0-9.]+\)`, "Lunch on Friday"},
		{"EICAR", followAttachment("eicar.txt", []byte(testenv.EICAR)), true, 82, virusText, "VIRUS", regexp.QuoteMeta(testenv.EICARName)},
		{"GTUBE", gtube, true, 82, "DYour email is considered spam (1000", `SPAM REJECT \(1000\.[0-9]+/[0-9.]+/[0-9.]+\)`, "Lunch on Friday"},
		{"GTUBE, stock qmail-smtpd", gtube, false, 31, "", `SPAM REJECT \(1000\.[0-9]+/[0-9.]+/[0-9.]+\)`, "Lunch on Friday"},
		// .exe is banned only by the walk-through's simcontrol.
		{"banned attachment", followAttachment("invoice.exe", []byte("MZ not really\n")), true, 82,
			"DYour email was rejected because it contains a bad attachment: invoice.exe", "ATTACH", `invoice\.exe`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.feed(t, tt.msg, tt.errPipe)
			if r.code != tt.code || !strings.HasPrefix(r.errText, tt.errText) || (tt.errText == "") != (r.errText == "") {
				t.Errorf("exit %d, fd 4 %q; want %d, %q\n%s", r.code, r.errText, tt.code, tt.errText, r.stderr)
			}
			re := logPrefix + tt.state + elapsed + tt.detail + logSuffix
			if line := r.logLine(t); !regexp.MustCompile(re).MatchString(line) {
				t.Errorf("log line %q does not match %q", line, re)
			}
			if tt.code != 0 {
				if len(r.records) != 0 {
					t.Errorf("refused, yet qmail-queue ran %d times", len(r.records))
				}
				return
			}
			if len(r.records) != 1 {
				t.Fatalf("qmail-queue ran %d times, want once\n%s", len(r.records), r.stderr)
			}
			got := r.records[0]
			if string(got.Env) != testEnvelope {
				t.Errorf("qmail-queue got envelope %q, want %q", got.Env, testEnvelope)
			}
			msg := string(got.Msg)
			// received = yes and simscanmk -g: the header names both
			// daemons' versions.
			if !regexp.MustCompile(`^Received: \(simscan [^\n]*\)\n \(scanners: [^\n]*clamav: [0-9][^\n]* spam: [0-9]`).MatchString(msg) {
				t.Errorf("the delivered message does not start with simscan's Received header naming clamav and spam:\n%.400s", msg)
			}
			if !strings.Contains(msg, "shall we have lunch on Friday") {
				t.Errorf("the delivered message lost its body:\n%s", msg)
			}
		})
	}

	if ents, err := os.ReadDir(filepath.Join(env.qmail, "simscan")); err != nil || len(ents) != 0 {
		t.Errorf("work directories left behind: %v %v", ents, err)
	}
	cfg, err := control.Load(filepath.Join(env.qmail, "control"))
	if err != nil {
		t.Fatal(err)
	}
	// Two more GTUBE refusals, after the walk-through's own.
	if q, err := quarantine.List(cfg.QuarantineDir, quarantine.Filter{Class: "spam"}); err != nil || len(q) != 3 {
		t.Errorf("quarantine: %d spam entries, %v; want 3", len(q), err)
	}
}
