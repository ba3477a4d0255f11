package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Replies of qpsmtpd 0.94's queue/qmail-queue plugin to the end of DATA, as
// seen by the client (plugins/queue/qmail-queue, Qpsmtpd::SMTP::queue_respond).
// qpsmtpd has no equivalent of qmail-smtpd's custom-error descriptor: every
// failure is one of the 451s below.
const (
	// QpsmtpdQueuedPrefix starts the reply when the queue program exits 0:
	// "250 Queued! <unix time> qp <queue program pid> <Message-Id>", where the
	// Message-Id is the header's value, or "<>" when there is none. A queue
	// program killed by a signal after it read the message also gets this
	// reply, because qpsmtpd only looks at the exit code ($? >> 8).
	QpsmtpdQueuedPrefix = "Queued! "
	// QpsmtpdExitText is the format of the 451 text for a non-zero exit
	// code N: "451 Unable to queue message (N)".
	QpsmtpdExitText = "Unable to queue message (%d)"
	// QpsmtpdDeclinedText is the 451 text when qpsmtpd could not write the
	// message or envelope to the queue program (it exited without reading
	// them; qpsmtpd dies of SIGPIPE in the plugin).
	QpsmtpdDeclinedText = "Queuing declined or disabled; try again later"
)

// QpsmtpdHostname is qpsmtpd's config/me, which appears in its greeting and
// in the headers it adds.
const QpsmtpdHostname = "qpsmtpd.test"

// QpsmtpdHeaders matches the two header fields qpsmtpd puts in front of
// every message before the queue program sees it:
//
//	Received: from <helo> (HELO <helo>) (127.0.0.1)
//	 by qpsmtpd.test (qpsmtpd/0.94) with ESMTP; <RFC 2822 date>
//	Authentication-Results: qpsmtpd.test; auth=none
//
// ("with ESMTP" is "with SMTP" after HELO instead of EHLO.)
var QpsmtpdHeaders = regexp.MustCompile(`^Received: from \S+ \(HELO \S+\) \(127\.0\.0\.1\)\n by qpsmtpd\.test \(qpsmtpd/[0-9.]+\) with E?SMTP; [^\n]+\nAuthentication-Results: qpsmtpd\.test; auth=none\n`)

// Qpsmtpd is a running qpsmtpd-forkserver.
type Qpsmtpd struct {
	PID int
	// Log is qpsmtpd's log (logging/warn at LOGINFO on its stderr). The
	// queue program inherits that stderr, so its messages are here too.
	Log string
	Dir string // run directory: config/, spool/, queue wrapper
	// Queue is the wrapper script that qpsmtpd runs as qmail-queue: it sets
	// the environment given to StartQpsmtpd and execs the queue program.
	Queue string
	addr  string
}

// Addr is the "127.0.0.1:port" qpsmtpd listens on.
func (q *Qpsmtpd) Addr() string { return q.addr }

// queuePathRE is the untainting pattern of the qmail-queue plugin: a queue
// program path with any other character is refused with exit 3.
var queuePathRE = regexp.MustCompile(`^/[/\-_.a-zA-Z0-9]*$`)

// StartQpsmtpd starts Debian's qpsmtpd-forkserver on a loopback port with a
// private configuration: every recipient is accepted (see
// testdata/daemons/qpsmtpd/plugins/testenv_rcpt_any), no DNS lookups, and
// queue/qmail-queue runs queueProgram with env ("NAME=value" entries) added
// to its environment. It waits for the 220 greeting and stops qpsmtpd, with
// its connection children and their queue programs, at cleanup.
//
// qpsmtpd runs as the test's user. The queue program's environment is
// qpsmtpd's: PATH=/bin:/usr/bin:/var/qmail/bin, TCPLOCALIP=127.0.0.1,
// TCPREMOTEIP=127.0.0.1, TCPREMOTEHOST=[127.0.0.1], plus env. qpsmtpd does
// not set RELAYCLIENT; pass it in env when a test needs it.
//
// qpsmtpd stores the message with LF line ends, as qmail-smtpd does, and
// adds the header fields QpsmtpdHeaders matches.
func StartQpsmtpd(t testing.TB, queueProgram string, env []string) *Qpsmtpd {
	t.Helper()
	lookDaemon(t, "qpsmtpd-forkserver", "qpsmtpd")
	perl := lookDaemon(t, "perl", "perl")
	if !filepath.IsAbs(queueProgram) {
		t.Fatalf("testenv: queue program %q is not an absolute path", queueProgram)
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || !shellName.MatchString(k) {
			t.Fatalf("testenv: environment entry %q is not NAME=value", kv)
		}
	}
	me := currentUser(t)
	src := filepath.Join(daemonsDir(t), "qpsmtpd")
	dir := runDir(t, "qpsmtpd", nil)
	q := &Qpsmtpd{Log: filepath.Join(dir, "qpsmtpd.log"), Dir: dir, Queue: filepath.Join(dir, "qmail-queue")}
	if !queuePathRE.MatchString(q.Queue) {
		t.Fatalf("testenv: qpsmtpd refuses queue program paths outside %s; the temp directory gives %q (set TMPDIR)", queuePathRE, q.Queue)
	}

	// The wrapper drops the variables that only steer qpsmtpd itself.
	var w strings.Builder
	w.WriteString("#!/bin/sh\n# qmail-queue for qpsmtpd, written by internal/testenv\nunset QPSMTPD_CONFIG QMAIL\n")
	for _, kv := range env {
		fmt.Fprintf(&w, "export %s\n", shellQuote(kv))
	}
	fmt.Fprintf(&w, "exec %s\n", shellQuote(queueProgram))
	writeFile(t, q.Queue, w.String())
	if err := os.Chmod(q.Queue, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}

	config := filepath.Join(dir, "config")
	mkdir(t, config, 0o755, nil)
	mkdir(t, filepath.Join(dir, "spool"), 0o700, nil)
	files := map[string]string{
		"plugins": "dont_require_anglebrackets\ntestenv_rcpt_any\nqueue/qmail-queue " + q.Queue + "\n",
		// Our plugin first, then Debian's.
		"plugin_dirs": filepath.Join(src, "plugins") + "\n/usr/share/qpsmtpd/plugins\n",
		"logging":     "logging/warn LOGINFO\n",
		"loglevel":    "6\n",
		"me":          QpsmtpdHostname + "\n",
		"spool_dir":   filepath.Join(dir, "spool") + "\n",
	}
	for name, data := range files {
		writeFile(t, filepath.Join(config, name), data)
	}

	start := func(port int) (*process, error) {
		penv := []string{
			"PATH=" + daemonPath,
			"LC_ALL=C",
			"HOME=" + dir,
			// Every configuration file comes from here; the fallback
			// $QMAIL/control then is the run directory, not /var/qmail.
			"QPSMTPD_CONFIG=" + config,
			"QMAIL=" + dir,
		}
		argv := []string{perl, "-Tw", filepath.Join(src, "qpsmtpd-forkserver-nordns"),
			"--listen-address=127.0.0.1", "--port=" + strconv.Itoa(port),
			"--user=" + me.Username, "--limit-connections=64"}
		return startProcess(t, "qpsmtpd", dir, q.Log, penv, argv)
	}
	p, port, took := startDaemon(t, "qpsmtpd", start, func(port int) error {
		return smtpGreeting(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	})
	q.PID = p.pid()
	q.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	t.Logf("testenv: qpsmtpd ready in %v: pid %d, %s, queue %s", took.Round(time.Millisecond), q.PID, q.addr, queueProgram)
	return q
}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// shellQuote quotes s for sh(1) with single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// smtpGreeting expects a 220 greeting and says QUIT.
func smtpGreeting(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220 ") {
		return fmt.Errorf("%w as greeting: %q", errUnexpected, strings.TrimSpace(line))
	}
	_, err = conn.Write([]byte("QUIT\r\n"))
	return err
}
