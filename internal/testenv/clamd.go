package testenv

import (
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

// Test content and the names clamd reports for it. The signatures are in
// testdata/daemons/test.ndb; clamd appends ".UNOFFICIAL" to the name of every
// signature that does not come from a signed ClamAV database.
const (
	// EICAR is the 68-byte EICAR anti-virus test file. It is split in the
	// source so that this file is not itself an EICAR file.
	EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
	// EICARName is what clamd reports for EICAR anywhere in a scanned object,
	// as in "stream: Simscan.Test.EICAR.UNOFFICIAL FOUND".
	EICARName = "Simscan.Test.EICAR.UNOFFICIAL"

	// Marker is a harmless string that the test clamd treats as a virus, for
	// tests that need a "virus" no real engine knows.
	Marker = "SIMSCAN-TEST-" + "MARKER-7f3a"
	// MarkerName is what clamd reports for Marker.
	MarkerName = "Simscan.Test.Marker.UNOFFICIAL"
)

// Clamd is a running clamd.
type Clamd struct {
	Unix string // path of its LocalSocket
	TCP  string // its TCPSocket, "127.0.0.1:port"
	PID  int
	Log  string // its LogFile: one line per scanned object (LogClean yes)
	Dir  string // run directory: clamd.conf, db/, tmp/, the socket and logs
	User string // the user it runs as
}

// ClamdOption changes how StartClamd configures clamd.
type ClamdOption func(*clamdConfig)

type clamdConfig struct {
	user  string
	extra []string
}

// ClamdUser makes clamd run as the named user through clamd.conf's User
// directive (clamd starts as root and switches). That needs root; the run
// directory is given to that user, so its socket and log belong to it.
func ClamdUser(name string) ClamdOption {
	return func(c *clamdConfig) { c.user = name }
}

// ClamdConf appends lines to clamd.conf, for instance "StreamMaxLength 1M".
func ClamdConf(lines ...string) ClamdOption {
	return func(c *clamdConfig) { c.extra = append(c.extra, lines...) }
}

// StartClamdAs starts clamd running as the named user. A test run as root
// uses it to show that FILDES works on files clamd itself could not open.
func StartClamdAs(t testing.TB, name string) *Clamd {
	t.Helper()
	return StartClamd(t, ClamdUser(name))
}

// StartClamd starts clamd with testdata/daemons/clamd.conf.in and only the
// test signatures, waits until "zPING" answers "PONG" on its unix socket, and
// stops it at cleanup. By default clamd runs as the test's own user.
func StartClamd(t testing.TB, opts ...ClamdOption) *Clamd {
	t.Helper()
	var cfg clamdConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin := lookDaemon(t, "clamd", "clamav-daemon")
	me := currentUser(t)
	runAs := me
	var owner *user.User
	if cfg.user != "" && cfg.user != me.Username {
		if os.Geteuid() != 0 {
			t.Fatalf("testenv: running clamd as %s needs root, tests run as %s", cfg.user, me.Username)
		}
		runAs = lookupUser(t, cfg.user)
		owner = runAs
	}

	tmpl, err := os.ReadFile(filepath.Join(daemonsDir(t), "clamd.conf.in"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ndb, err := os.ReadFile(filepath.Join(daemonsDir(t), "test.ndb"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dir := runDir(t, "clamd", owner)
	mkdir(t, filepath.Join(dir, "db"), 0o755, nil)
	mkdir(t, filepath.Join(dir, "tmp"), 0o700, owner)
	writeFile(t, filepath.Join(dir, "db", "test.ndb"), string(ndb))

	c := &Clamd{
		Unix: filepath.Join(dir, "clamd.sock"),
		Log:  filepath.Join(dir, "clamd.log"),
		Dir:  dir,
		User: runAs.Username,
	}
	conf := filepath.Join(dir, "clamd.conf")
	start := func(port int) (*process, error) {
		text := fillTemplate(string(tmpl), map[string]string{"DIR": dir, "PORT": strconv.Itoa(port)})
		if owner != nil {
			text += "User " + owner.Username + "\n"
		}
		for _, l := range cfg.extra {
			text += l + "\n"
		}
		writeFile(t, conf, text)
		env := []string{"PATH=" + daemonPath, "LC_ALL=C"}
		return startProcess(t, "clamd", dir, filepath.Join(dir, "clamd.stderr"), env,
			[]string{bin, "--config-file=" + conf}, c.Log)
	}
	p, port, took := startDaemon(t, "clamd", start, func(int) error { return clamdPing(c.Unix) })
	c.PID = p.pid()
	c.TCP = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	t.Logf("testenv: clamd ready in %v: pid %d, user %s, %s, %s", took.Round(time.Millisecond), c.PID, c.User, c.Unix, c.TCP)
	return c
}

// Scans counts the objects clamd has logged a result for ("...: OK" or
// "...: <name> FOUND"). clamd writes the log line just after it sends the
// reply, so a count read right after a reply may still lag by one.
func (c *Clamd) Scans() int {
	return countLines(c.Log, ": OK", " FOUND")
}

// clamdPing sends clamd(8)'s "zPING" command and expects "PONG".
func clamdPing(socket string) error {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if got := strings.TrimRight(string(buf[:n]), "\x00\n"); got != "PONG" {
		return fmt.Errorf("%w to zPING: %q", errUnexpected, got)
	}
	return nil
}
