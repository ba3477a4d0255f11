package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// GTUBE is the Generic Test for Unsolicited Bulk Email, which SpamAssassin
// scores 1000. It is split in the source for the same reason as EICAR.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*" + "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// CleanMessage is an ordinary message with the headers a real one has. The
// test spamd answers CHECK with "Spam: False ; -0.0 / 5.0": only the
// informational NO_RECEIVED and NO_RELAYS rules hit, worth -0.001 each.
// Lines end in LF, as qmail-queue receives them.
const CleanMessage = "From: Alice <alice@example.com>\n" +
	"To: Bob <bob@example.org>\n" +
	"Subject: Lunch on Friday\n" +
	"Date: Sat, 21 Nov 2026 10:00:00 +0000\n" +
	"Message-ID: <20261121100000.1234@example.com>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: text/plain; charset=us-ascii\n" +
	"\n" +
	"Hi Bob,\n" +
	"\n" +
	"shall we have lunch on Friday at noon? The usual place is fine.\n" +
	"\n" +
	"Alice\n"

// spamdUser is the user spamd switches to when the tests run as root: spamd
// refuses to check mail as root.
const spamdUser = "nobody"

// Spamd is a running spamd.
type Spamd struct {
	TCP  string // "127.0.0.1:port"
	Unix string // path of its unix socket
	PID  int    // the parent; its children are in the same process group
	Log  string // its log (--syslog=file)
	Dir  string // run directory
	User string // the user its children check mail as
}

// SpamdOption changes how StartSpamd configures spamd.
type SpamdOption func(*spamdConfig)

type spamdConfig struct {
	cf []string
}

// SpamdCF adds configuration lines through spamd's --cf, for instance a rule
// and its score: "body SIMSCAN_T /hello/", "score SIMSCAN_T 6".
func SpamdCF(lines ...string) SpamdOption {
	return func(c *spamdConfig) { c.cf = append(c.cf, lines...) }
}

// StartSpamd starts spamd with the arguments in testdata/daemons/spamd.args
// (shipped rules, --local, no user config, no Bayes) on a loopback port and a
// unix socket, waits until "PING SPAMC/1.5" answers PONG and stops it and its
// children at cleanup.
func StartSpamd(t testing.TB, opts ...SpamdOption) *Spamd {
	t.Helper()
	var cfg spamdConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin := lookDaemon(t, "spamd", "spamd")
	runAs := currentUser(t)
	var owner *user.User
	if os.Geteuid() == 0 {
		runAs = lookupUser(t, spamdUser)
		owner = runAs
	}
	tmpl, err := os.ReadFile(filepath.Join(daemonsDir(t), "spamd.args"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dir := runDir(t, "spamd", nil)
	mkdir(t, filepath.Join(dir, "home"), 0o755, owner)

	s := &Spamd{
		Unix: filepath.Join(dir, "spamd.sock"),
		Log:  filepath.Join(dir, "spamd.log"),
		Dir:  dir,
		User: runAs.Username,
	}
	start := func(port int) (*process, error) {
		os.Remove(s.Unix)
		argv := []string{bin}
		vars := map[string]string{"DIR": dir, "PORT": strconv.Itoa(port)}
		for _, line := range strings.Split(string(tmpl), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			argv = append(argv, fillTemplate(line, vars))
		}
		if owner != nil {
			argv = append(argv, "--username="+owner.Username)
		}
		for _, cf := range cfg.cf {
			argv = append(argv, "--cf="+cf)
		}
		env := []string{"PATH=" + daemonPath, "LC_ALL=C", "HOME=" + filepath.Join(dir, "home")}
		return startProcess(t, "spamd", dir, filepath.Join(dir, "spamd.stderr"), env, argv, s.Log)
	}
	p, port, took := startDaemon(t, "spamd", start, func(port int) error {
		return spamdPing("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	})
	s.PID = p.pid()
	s.TCP = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	t.Logf("testenv: spamd ready in %v: pid %d, user %s, %s, %s", took.Round(time.Millisecond), s.PID, s.User, s.TCP, s.Unix)
	return s
}

// Checks counts the messages spamd has been asked about: spamd logs
// "spamd: checking message <id> for <user>:<uid>" (or "processing message"
// for PROCESS) before it checks a message and answers, so the count is
// up to date as soon as a client has its reply. PING does not count.
func (s *Spamd) Checks() int {
	return countLines(s.Log, "spamd: checking message ", "spamd: processing message ")
}

// spamdPing sends "PING SPAMC/1.5" (spamd's PROTOCOL document) and expects
// "SPAMD/1.5 0 PONG".
func spamdPing(network, addr string) error {
	conn, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("PING SPAMC/1.5\r\n\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimRight(line, "\r\n"); got != "SPAMD/1.5 0 PONG" {
		return fmt.Errorf("%w to PING: %q", errUnexpected, got)
	}
	return nil
}
