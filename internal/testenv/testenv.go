// Package testenv starts the real daemons that simscan talks to, for
// integration and end-to-end tests: clamd from Debian's clamav-daemon, spamd
// from Debian's spamd and qpsmtpd-forkserver from Debian's qpsmtpd.
//
// Each Start function runs its daemon in the foreground as a child of the
// test binary, in its own process group, listening only on loopback and on a
// unix socket in a fresh run directory. It waits until the daemon answers its
// protocol's ping (clamd "zPING", spamd "PING SPAMC/1.5", qpsmtpd's 220
// greeting) and registers a cleanup that stops the whole process group by PID
// and removes the run directory. A missing binary or a daemon that does not
// answer within StartTimeout fails the test with the tail of the daemon's log:
// the project's rule is that a missing daemon is a loud failure, never a skip.
// scripts/test-deps.sh installs the packages.
//
// The configuration lives in testdata/daemons, shared with
// scripts/testdaemons.sh so that benchmarks run against the same daemons.
//
// The package also builds and reads the recording fake qmail-queue in
// testdata/qmail-queue-recorder, and has a small SMTP client, SendMail, that
// reports the reply to the end of DATA.
package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartTimeout is how long a Start function waits for its daemon to answer.
const StartTimeout = 30 * time.Second

// stopTimeout is how long a stopped daemon gets between SIGTERM and SIGKILL.
const stopTimeout = 10 * time.Second

// startAttempts is how often a Start function tries a fresh port when the
// daemon could not bind the one it was given (another test took it between
// our probe and the daemon's bind).
const startAttempts = 3

// daemonPath is where Debian puts the daemons; PATH of a non-root user often
// lacks /usr/sbin.
const daemonPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ModuleRoot returns the directory that holds the module's go.mod, found by
// walking up from the working directory (go test runs a test in its package's
// directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/gosimscan/simscan\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod of github.com/gosimscan/simscan above the working directory")
		}
		dir = parent
	}
}

// daemonsDir is testdata/daemons, the configuration shared with
// scripts/testdaemons.sh.
func daemonsDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(ModuleRoot(t), "testdata", "daemons")
}

// fillTemplate replaces the @NAME@ placeholders of the files in
// testdata/daemons.
func fillTemplate(text string, vars map[string]string) string {
	for k, v := range vars {
		text = strings.ReplaceAll(text, "@"+k+"@", v)
	}
	return text
}

// lookDaemon finds a daemon's binary on PATH or in the Debian locations.
func lookDaemon(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(daemonPath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("testenv: %s not found: install Debian's %s (scripts/test-deps.sh does)", name, pkg)
	return ""
}

// runDir makes a run directory for one daemon. It is made with os.MkdirTemp
// directly under the system temp directory, not t.TempDir, because a daemon
// that runs as another user must be able to reach it: t.TempDir's parent is
// private to the test's user. owner, if set, becomes its owner. The directory
// is removed at cleanup, after the daemon has stopped.
func runDir(t testing.TB, name string, owner *user.User) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "simscan-"+name+"-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if owner != nil {
		chownTo(t, dir, owner)
	}
	return dir
}

// mkdir makes a directory inside a run directory, owned by owner if set.
func mkdir(t testing.TB, path string, perm os.FileMode, owner *user.User) {
	t.Helper()
	if err := os.Mkdir(path, perm); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatalf("testenv: %v", err)
	}
	if owner != nil {
		chownTo(t, path, owner)
	}
}

func chownTo(t testing.TB, path string, u *user.User) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// lookupUser resolves the user a daemon should run as.
func lookupUser(t testing.TB, name string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("testenv: user %q: %v", name, err)
	}
	return u
}

func currentUser(t testing.TB) *user.User {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return u
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a daemon started by a Start function.
type process struct {
	name    string
	cmd     *exec.Cmd
	logs    []string      // files whose tail explains a failure
	done    chan struct{} // closed when the process has been waited for
	waitErr error
}

// startProcess runs argv in dir as the leader of a new process group, with
// stdout and stderr appended to stderrPath.
func startProcess(t testing.TB, name, dir, stderrPath string, env, argv []string, logs ...string) (*process, error) {
	t.Helper()
	out, err := os.OpenFile(stderrPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the test binary dies without running its cleanups (a panic,
		// the -timeout alarm), the daemon goes with it. Linux drops this
		// when the daemon changes user, so cleanups remain the main way.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: cmd, logs: append(logs, stderrPath), done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the daemon's process ID, which is also its process group ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the daemon, which stops (and reaps) its own
// children, waits for it, and sends SIGKILL to the process group for
// whatever is left: children that outlived it, a queue program still
// running. A daemon that ignores SIGTERM for stopTimeout gets SIGKILL.
func (p *process) stop() {
	pid := p.pid()
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// waitReady calls probe until it succeeds, the process exits or
// StartTimeout passes.
func (p *process) waitReady(probe func() error) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		err := probe()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before answering (%v); last probe: %w", p.name, p.waitErr, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %v: %w", p.name, StartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// portTaken tells whether the daemon's logs say its port was in use, which
// is worth another attempt on a fresh port.
func (p *process) portTaken() bool {
	for _, f := range p.logs {
		data, _ := os.ReadFile(f)
		if bytes.Contains(data, []byte("in use")) {
			return true
		}
	}
	return false
}

// report describes a failed start with the tail of every log.
func (p *process) report(err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "testenv: %v\ncommand: %s", err, strings.Join(p.cmd.Args, " "))
	for _, f := range p.logs {
		fmt.Fprintf(&b, "\n--- %s (tail) ---\n%s", f, tail(f, 40))
	}
	return b.String()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startDaemon runs start (which writes the configuration for a port and
// starts the process) and probe until the daemon answers, retrying on a
// fresh port when the port was taken. It fails the test if the daemon does
// not come up, and registers the cleanup that stops it.
func startDaemon(t testing.TB, name string, start func(port int) (*process, error), probe func(port int) error) (*process, int, time.Duration) {
	t.Helper()
	begin := time.Now()
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		p, err := start(port)
		if err != nil {
			t.Fatalf("testenv: start %s: %v", name, err)
		}
		err = p.waitReady(func() error { return probe(port) })
		if err == nil {
			t.Cleanup(p.stop)
			return p, port, time.Since(begin)
		}
		p.stop()
		if attempt < startAttempts && p.portTaken() {
			continue
		}
		t.Fatal(p.report(err))
	}
}

// countLines counts the lines of a log file that contain any of the needles.
func countLines(path string, needles ...string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		for _, needle := range needles {
			if strings.Contains(sc.Text(), needle) {
				n++
				break
			}
		}
	}
	return n
}

// errUnexpected is returned by probes that got an answer, but not the one
// the protocol promises.
var errUnexpected = errors.New("unexpected answer")
