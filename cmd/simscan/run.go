package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/qmail"
	"github.com/gosimscan/simscan/scanner"
	"github.com/gosimscan/simscan/spool"
)

// system is everything run touches outside its own memory, so tests can
// drive run directly.
type system struct {
	stdin   *os.File  // the message
	envIn   *os.File  // the envelope (qmail-queue's fd 1)
	stdout  io.Writer // only for -v: in queue mode fd 1 is the envelope
	stderr  io.Writer
	getenv  func(string) string
	environ func() []string
	now     func() time.Time
	pid     int
	ppid    int
	setuid  bool // real and effective ids differ: ignore the environment's choices
	exec    func(prog string, msg, env *os.File, environ []string) error
	errFDs  func(fd int) []int
	control string // the built-in control directory
}

// run is simscan's queue mode. It returns the exit code; the only way it
// does not return is by becoming qmail-queue.
func run(args []string, sys *system) int {
	if len(args) > 0 && args[0] == "-v" {
		fmt.Fprintf(sys.stdout, "simscan %s\n", version)
		return 0
	}
	j := &job{sys: sys, start: sys.now(), debug: debugLevel(sys.getenv("SIMSCAN_DEBUG"))}
	if len(args) > 0 {
		j.logf("ignoring arguments %q: simscan takes none in queue mode", args)
	}
	return j.run()
}

// job is one message on its way through simscan.
type job struct {
	sys   *system
	start time.Time
	debug int
	cfg   control.Config
	fds   []int // error fds for custom text

	mu      sync.Mutex // guards dir against the signal handler
	dir     string
	keepDir bool

	env     *qmail.Envelope
	subject string
}

func (j *job) run() int {
	unix.Umask(0o027)
	// A core dump must not leak a message.
	_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// The first file opened makes the Go runtime set up its poller, two
	// descriptors, and if it cannot the runtime dies (exit 2) with no log
	// line. Check that they and one for simscan.conf are free while a
	// failure is still ours to report.
	if err := freeFDs(3); err != nil {
		return j.tempFail("descriptors: "+err.Error(), "")
	}

	dir := j.sys.controlDir()
	j.debugf(1, "control directory %s", dir)
	cfg, err := control.Load(dir)
	if err != nil {
		j.logf("%v", err)
		return j.tempFail("config: "+err.Error(), "")
	}
	j.cfg = cfg
	j.fds = j.sys.errFDs(cfg.ErrorFD)
	j.keepDir = j.sys.getenv("SIMSCAN_DEBUG_FILES") == "1"

	// Each signal handler costs the runtime a round trip to its signal
	// thread: register them while the first bytes of the message arrive.
	// Until they are registered no work directory exists, so a signal that
	// ends the process by default leaves nothing behind.
	stopc := make(chan func(), 1)
	go func() { stopc <- j.handleSignals() }()
	first := make([]byte, copyBuffer)
	n, firstErr := j.sys.stdin.Read(first)
	stop := <-stopc
	defer stop()
	defer j.cleanup()

	if err := j.makeDir(); err != nil {
		return j.tempFail("workdir: "+err.Error(), "")
	}
	msg, size, code := j.spool(first[:n], firstErr)
	if code != qmail.OK {
		return int(code)
	}
	defer msg.Close()
	envFile, code := j.readEnvelope()
	if code != qmail.OK {
		return int(code)
	}
	defer envFile.Close()
	j.subject = subject(msg)

	m := &scanner.Message{
		Dir: j.dir, Path: msg.Name(), File: msg, Size: size,
		From: j.env.From, To: j.env.To,
		RemoteIP:    j.sys.getenv("TCPREMOTEIP"),
		RelayClient: j.sys.getenvOK("RELAYCLIENT"),
	}
	pol, err := scanner.LoadPolicy(dir, &j.cfg, m.From, m.To)
	if err != nil {
		return j.tempFail("rules: "+err.Error(), "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ScanTimeout)
	defer cancel()
	p := &scanner.Pipeline{
		Checks:  scanner.Build(&j.cfg, pol, m, j.logf, j.keepDir),
		Rules:   pol.Judge(&j.cfg),
		OnError: func(check string) control.ErrorAction { return j.cfg.ErrorActionFor(scanner.CheckDaemon(check)) },
		Logf:    j.logf,
	}
	out := p.Run(ctx, m)
	j.debugf(1, "checks %v, verdict %s %s", out.Ran, out.Verdict.Action, out.Verdict.State)
	if v, ok := j.quarantine(m, pol, out.Verdict); !ok {
		out.Verdict = v
	}
	switch out.Verdict.Action {
	case scanner.Pass:
		return j.deliver(msg, envFile, pol, out)
	case scanner.Drop:
		j.logLine(out.Verdict)
		return int(qmail.OK)
	case scanner.Reject:
		j.logLine(out.Verdict)
		return j.refuse('D', out.Verdict.Text, qmail.PermFail)
	default:
		j.logLine(out.Verdict)
		return j.refuse('Z', out.Verdict.Text, qmail.TempFail)
	}
}

// freeFDs reports an error unless n more descriptors can be opened. It
// opens and closes them with bare system calls, which the runtime's poller
// does not see.
func freeFDs(n int) error {
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range n {
		fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%d free file descriptors needed: %w", n, err)
		}
		fds = append(fds, fd)
	}
	return nil
}

// getenvOK reports whether an environment variable is set, even if empty
// (tcprules sets RELAYCLIENT="").
func (s *system) getenvOK(name string) bool {
	prefix := name + "="
	for _, kv := range s.environ() {
		if strings.HasPrefix(kv, prefix) {
			return true
		}
	}
	return false
}

// makeDir creates the work directory, and removes those that processes
// killed without a chance to clean up left behind.
func (j *job) makeDir() error {
	name, err := spool.Create(j.cfg.WorkDir, j.sys.now(), j.sys.pid)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.dir = name
	j.mu.Unlock()
	j.debugf(1, "work directory %s", name)
	removed, err := spool.RemoveStale(j.cfg.WorkDir, j.cfg.StaleAge, j.sys.now())
	for _, r := range removed {
		j.logf("removed stale work directory %s", r)
	}
	if err != nil {
		j.logf("removing stale work directories: %v", err)
	}
	return nil
}

// spool streams fd 0 into the work directory's msg file.
func (j *job) spool(first []byte, firstErr error) (*os.File, int64, qmail.ExitCode) {
	f, err := os.OpenFile(filepath.Join(j.dir, "msg"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, 0, qmail.ExitCode(j.tempFail("spool: "+err.Error(), ""))
	}
	n, err := copyMessage(f, first, firstErr, j.sys.stdin)
	if err != nil {
		f.Close()
		var re *readError
		if errors.As(err, &re) {
			j.logLine(scanner.Verdict{State: "TEMPFAIL", Detail: "message: " + re.Error()})
			return nil, 0, qmail.ReadError
		}
		return nil, 0, qmail.ExitCode(j.tempFail("spool: "+err.Error(), ""))
	}
	j.debugf(1, "message of %d bytes spooled", n)
	return f, n, qmail.OK
}

type readError struct{ err error }

func (e *readError) Error() string { return "read: " + e.err.Error() }

// copyBuffer is the size of the reads of fd 0.
const copyBuffer = 64 << 10

// copyMessage writes first, the bytes already read with firstErr, and the
// rest of src to dst, telling read errors from write errors.
func copyMessage(dst *os.File, first []byte, firstErr error, src io.Reader) (int64, error) {
	buf := first[:cap(first)]
	r, rerr := len(first), firstErr
	var n int64
	for {
		if r > 0 {
			w, werr := dst.Write(buf[:r])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, &readError{rerr}
		}
		r, rerr = src.Read(buf)
	}
}

// readEnvelope reads fd 1 into the work directory's env file, byte for
// byte, and parses it.
func (j *job) readEnvelope() (*os.File, qmail.ExitCode) {
	f, err := os.OpenFile(filepath.Join(j.dir, "env"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, qmail.ExitCode(j.tempFail("spool: "+err.Error(), ""))
	}
	env, err := qmail.ReadEnvelope(j.sys.envIn, f)
	var ee *qmail.EnvelopeError
	switch {
	case errors.As(err, &ee):
		f.Close()
		state := "TEMPFAIL"
		if ee.Code == qmail.BadEnvelope || ee.Code == qmail.AddressTooLong {
			state = "ENVELOPE"
		}
		j.logLine(scanner.Verdict{State: state, Detail: ee.Error()})
		return nil, ee.Code
	case err != nil:
		f.Close()
		return nil, qmail.ExitCode(j.tempFail("spool: "+err.Error(), ""))
	}
	j.env = env
	return f, qmail.OK
}

// refuse answers with a refusal or temporary failure: the text on the error
// fd and exit 82 when custom_reject is on and qmail-smtpd gave us an error
// fd, else the plain exit code.
func (j *job) refuse(kind byte, text string, plain qmail.ExitCode) int {
	if j.cfg.CustomReject && text != "" && len(j.fds) > 0 && qmail.WriteCustomError(j.fds, kind, text) {
		return int(qmail.CustomError)
	}
	return int(plain)
}

// tempFail logs our own trouble and answers with a temporary failure.
func (j *job) tempFail(cause, text string) int {
	j.logLine(scanner.Verdict{State: "TEMPFAIL", Detail: cause})
	return j.refuse('Z', text, qmail.TempFail)
}

// deliver hands the message on: spamd's processed message if there is one,
// a Received header first if asked for, then exec of qmail-queue.
func (j *job) deliver(msg, envFile *os.File, pol *scanner.Policy, out scanner.Outcome) int {
	body := msg
	var spent []*os.File // copied from, not handed on
	if out.Processed != "" {
		f, err := os.Open(out.Processed)
		if err != nil {
			return j.tempFail("deliver: "+err.Error(), "")
		}
		defer f.Close()
		spent, body = append(spent, body), f
	}
	if j.cfg.Received {
		f, err := j.withReceived(body, out.Ran)
		if err != nil {
			return j.tempFail("deliver: "+err.Error(), "")
		}
		defer f.Close()
		spent, body = append(spent, body), f
	}
	prog := j.cfg.QmailQueue
	if pol.QmailQueue != "" {
		prog = pol.QmailQueue
	}
	// A qmail-queue that cannot be run is our trouble: log it as such, not
	// as a clean delivery.
	if err := unix.Faccessat(unix.AT_FDCWD, prog, unix.X_OK, unix.AT_EACCESS); err != nil {
		return j.tempFail(fmt.Sprintf("qmail-queue: cannot run %s: %v", prog, err), "")
	}
	j.logLine(out.Verdict)
	// Removing the work directory takes a descriptor, which at the
	// open-files limit only closing these frees.
	for _, f := range spent {
		f.Close()
	}
	j.cleanup()
	environ := j.sys.environ()
	if j.sys.setuid {
		environ = qmail.SafeEnviron(environ)
	}
	err := j.sys.exec(prog, body, envFile, environ)
	fmt.Fprintf(j.sys.stderr, "simscan: cannot run %s: %v\n", prog, err)
	return j.refuse('Z', "", qmail.TempFail)
}

// withReceived writes the Received header and the message to a new file.
func (j *job) withReceived(body *os.File, ran []string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(j.dir, "deliver"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	versions := scanner.Versions(j.sys.controlDir(), ran)
	hdr := scanner.ReceivedHeader(version, j.sys.ppid, j.sys.pid, j.sys.now().Sub(j.start), versions, j.sys.now())
	if _, err := io.WriteString(f, hdr); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := body.Seek(0, 0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// controlDir is the built-in control directory, or SIMSCAN_CONTROLDIR when
// the process is not setuid or setgid: in a setuid run nothing from the
// caller chooses which files are read.
func (s *system) controlDir() string {
	if d := s.getenv("SIMSCAN_CONTROLDIR"); d != "" && !s.setuid {
		return d
	}
	return s.control
}

// logLine prints simscan's one line per message.
func (j *job) logLine(v scanner.Verdict) {
	e := scanner.LogEntry{
		PPID:     j.sys.ppid,
		State:    v.State,
		Elapsed:  j.sys.now().Sub(j.start),
		Detail:   v.Detail,
		RemoteIP: j.sys.getenv("TCPREMOTEIP"),
	}
	if e.Detail == "" {
		e.Detail = j.subject
	}
	if j.env != nil {
		e.From, e.To = j.env.From, j.env.To
	}
	fmt.Fprintln(j.sys.stderr, e.String())
}

// logf prints a diagnostic line.
func (j *job) logf(format string, args ...any) {
	fmt.Fprintf(j.sys.stderr, "simscan: "+format+"\n", args...)
}

// debugf prints a diagnostic line when SIMSCAN_DEBUG is at least level.
func (j *job) debugf(level int, format string, args ...any) {
	if j.debug >= level {
		fmt.Fprintf(j.sys.stderr, "simscan: debug: "+format+"\n", args...)
	}
}

func debugLevel(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		if s != "" {
			return 1
		}
		return 0
	}
	return n
}

// cleanup removes the work directory, unless SIMSCAN_DEBUG_FILES=1 asks to
// keep it. It may run more than once.
func (j *job) cleanup() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dir == "" {
		return
	}
	if j.keepDir {
		j.logf("keeping work directory %s", j.dir)
	} else if err := removeDir(j.dir); err != nil {
		j.logf("cannot remove work directory: %v", err)
	}
	j.dir = ""
}

// removeDir removes a work directory and what is in it. os.RemoveAll holds
// a descriptor on the parent and one on each directory it descends into;
// when the open-files limit leaves fewer free, the rest is removed by path,
// which needs one descriptor at a time.
func removeDir(dir string) error {
	err := os.RemoveAll(dir)
	if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
		return err
	}
	return removeByPath(dir)
}

func removeByPath(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = removeByPath(p)
		} else {
			err = os.Remove(p)
		}
		if err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

// handleSignals makes SIGTERM, SIGINT and SIGHUP (and the other signals
// that would end the process: QUIT, ALRM, USR1, USR2) remove the work
// directory and exit 71. A blocked read of fd 0 cannot be interrupted any other way,
// so this handler is the one place below main that exits.
func (j *job) handleSignals() (stop func()) {
	// A log reader that went away must not kill simscan on its next log
	// line: with SIGPIPE caught, writes to stderr just fail. (A caught
	// signal, unlike an ignored one, is back to default in qmail-queue.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGALRM, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			j.logLine(scanner.Verdict{State: "TEMPFAIL", Detail: "signal " + s.String()})
			j.cleanup()
			os.Exit(int(qmail.TempFail))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
