package install

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/internal/testenv"
)

// thirdID is the uid and gid of a user that is neither simscan, nor in its
// group, nor the caller: someone else on the machine. It needs no passwd
// entry.
const thirdID = 64123

// runTimeout bounds every program the tests start.
const runTimeout = 60 * time.Second

// requireRoot stops the test loudly: these tests create users and install
// setuid binaries, so they cannot run as anyone else, and skipping would
// hide that they did not run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the install tests must run as root (they create a system user and install simscan setuid); CI runs them as root: sudo go test ./install/")
	}
}

// moduleRoot is the directory holding this module's go.mod.
func moduleRoot(t *testing.T) string { return testenv.ModuleRoot(t) }

// publicTempDir makes a directory under the system temp directory with mode
// perm. t.TempDir is private to root, and the installed simscan must be
// reachable by the unprivileged users the tests run it as.
func publicTempDir(t *testing.T, pattern string, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkdir(t *testing.T, path string, perm os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path, data string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// copyTree copies what "make install" needs (Makefile, go.mod, go.sum, the
// non-test Go files, scripts/ and contrib/) from src to dst. The install
// runs in the copy so that its bin/, built with the test's CONTROLDIR,
// never replaces the binaries of the working tree.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		top := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || top == "bin" || top == "testdata" || top == "bench" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		name := d.Name()
		keep := top == "scripts" || top == "contrib" ||
			rel == "Makefile" || rel == "go.mod" || rel == "go.sum" ||
			strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if !keep {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying the source tree: %v", err)
	}
}

// goTool finds the go command for make's GO variable.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	t.Fatal("go command not found on PATH")
	return ""
}

// cleanEnviron is the test's environment without the variables the
// Makefile and install.sh read, so that only what a test passes counts.
func cleanEnviron(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "DESTDIR", "QMAILDIR", "CONTROLDIR", "WORKDIR", "SIMSCAN_USER", "SIMSCAN_GROUP", "MAKEFLAGS", "MFLAGS":
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// account is a user or group id pair.
type account struct {
	name     string
	uid, gid uint32
}

func lookupAccount(t *testing.T, name string) account {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return account{name, uint32(uid), uint32(gid)}
}

// installation is simscan installed by "make install" into a temporary
// qmail directory.
type installation struct {
	root    string // public temporary directory holding everything
	src     string // the copy of the source tree make runs in
	qmail   string // QMAILDIR
	ctl     string // CONTROLDIR
	work    string // WORKDIR
	bin     string // QMAILDIR/bin
	user    string // the simscan account's name (user and group)
	account account
	nobody  account // the caller, as qmail-smtpd's qmaild would be
	make    func(t *testing.T, args ...string) string
}

// newInstallation installs simscan. The Makefile compiles CONTROLDIR into
// simscan, and the setuid simscan ignores SIMSCAN_CONTROLDIR, so the
// compiled-in directory must be one the test owns. DESTDIR stays empty
// and QMAILDIR points into the temporary directory: CONTROLDIR and WORKDIR
// default to QMAILDIR/control and QMAILDIR/simscan there, the binary reads
// the control directory it was installed with, and install.sh writes the
// work directory and qmail-queue path into simscan.conf because they
// differ from /var/qmail's. (DESTDIR=tmp with QMAILDIR=/var/qmail would
// compile in /var/qmail/control, a directory the test does not own; the
// DESTDIR subtest checks only the layout.)
//
// The simscan account gets a fresh random name through SIMSCAN_USER and
// SIMSCAN_GROUP, so that the test sees install.sh create it and never
// touches a real simscan account; it is removed at cleanup.
func newInstallation(t *testing.T) *installation {
	t.Helper()
	requireRoot(t)
	var rnd [4]byte
	rand.Read(rnd[:])
	in := &installation{
		root: publicTempDir(t, "simscan-install-", 0o755),
		user: "sst" + hex.EncodeToString(rnd[:]),
	}
	if _, err := user.Lookup(in.user); err == nil {
		t.Fatalf("user %s exists already", in.user)
	}
	t.Cleanup(func() {
		exec.Command("userdel", in.user).Run()
		exec.Command("groupdel", in.user).Run()
	})
	in.src = mkdir(t, filepath.Join(in.root, "src"), 0o755)
	in.qmail = filepath.Join(in.root, "qmail")
	in.ctl = filepath.Join(in.qmail, "control")
	in.work = filepath.Join(in.qmail, "simscan")
	in.bin = filepath.Join(in.qmail, "bin")
	in.nobody = lookupAccount(t, "nobody")
	copyTree(t, moduleRoot(t), in.src)
	goCmd := goTool(t)
	in.make = func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", append([]string{"-C", in.src, "GO=" + goCmd}, args...)...)
		cmd.Env = cleanEnviron("SIMSCAN_USER="+in.user, "SIMSCAN_GROUP="+in.user)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	return in
}

// TestInstall installs simscan as "make install" does and checks the
// result, then runs the setuid simscan the way qmail-smtpd does.
func TestInstall(t *testing.T) {
	in := newInstallation(t)

	// An administrator's own ssattach, which install must keep.
	mkdir(t, in.ctl, 0o755)
	const ownAttach = "# the administrator's own list\n.exe\n"
	writeFile(t, filepath.Join(in.ctl, "ssattach"), ownAttach, 0o644)

	out := in.make(t, "install", "QMAILDIR="+in.qmail)
	t.Logf("make install:\n%s", out)
	in.account = lookupAccount(t, in.user)
	in.addQueue(t)

	t.Run("layout", func(t *testing.T) {
		if !strings.Contains(out, "created group "+in.user) || !strings.Contains(out, "created user "+in.user) {
			t.Errorf("install did not report creating the account")
		}
		g, err := user.LookupGroup(in.user)
		if err != nil {
			t.Fatalf("group not created: %v", err)
		}
		if g.Gid != strconv.Itoa(int(in.account.gid)) {
			t.Errorf("user's primary group %d, want the new group %s", in.account.gid, g.Gid)
		}
		if line := passwdLine(t, in.user); !strings.Contains(line, ":"+in.work+":") || !strings.HasSuffix(line, "nologin") && !strings.HasSuffix(line, "false") {
			t.Errorf("passwd entry %q: want home %s and no login shell", line, in.work)
		}
		if in.account.uid == 0 {
			t.Fatal("simscan account is root")
		}
		a := in.account
		checkFile(t, filepath.Join(in.bin, "simscan"), a.uid, a.gid, 0o711|os.ModeSetuid)
		checkFile(t, filepath.Join(in.bin, "simscanmk"), 0, 0, 0o755)
		checkFile(t, filepath.Join(in.bin, "simscanctl"), 0, 0, 0o755)
		checkFile(t, in.work, a.uid, a.gid, 0o750|os.ModeSetgid|os.ModeDir)
		checkFile(t, filepath.Join(in.ctl, "simscan.conf"), 0, 0, 0o644)
		checkFile(t, filepath.Join(in.ctl, "simcontrol"), 0, 0, 0o644)
		if got := readFile(t, filepath.Join(in.ctl, "ssattach")); got != ownAttach {
			t.Errorf("existing ssattach was replaced:\n%s", got)
		}
		if !strings.Contains(out, "kept existing "+filepath.Join(in.ctl, "ssattach")) {
			t.Errorf("install did not say it kept ssattach")
		}
		cfg, err := control.Load(in.ctl)
		if err != nil {
			t.Fatalf("installed simscan.conf: %v", err)
		}
		if cfg.WorkDir != in.work || cfg.QmailQueue != filepath.Join(in.bin, "qmail-queue") {
			t.Errorf("installed simscan.conf: workdir %s, qmailqueue %s; want %s and %s", cfg.WorkDir, cfg.QmailQueue, in.work, filepath.Join(in.bin, "qmail-queue"))
		}
		if got := readFile(t, filepath.Join(in.ctl, "simcontrol")); got != readFile(t, filepath.Join(in.src, "contrib", "simcontrol.example")) {
			t.Errorf("simcontrol is not contrib/simcontrol.example")
		}
	})

	t.Run("not root", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(in.src, "scripts", "install.sh"), "install")
		cmd.Env = cleanEnviron("QMAILDIR="+in.qmail, "SIMSCAN_USER="+in.user, "SIMSCAN_GROUP="+in.user)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(in.nobody.uid, in.nobody.gid)}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "must be run as root") {
			t.Errorf("install.sh as nobody: %v\n%s", err, out)
		}
	})

	t.Run("delivers", func(t *testing.T) {
		r := in.run(t, runSpec{})
		r.wantDelivered(t)
	})

	t.Run("environment and arguments", func(t *testing.T) { in.testEnvironment(t) })
	t.Run("work directory is private", func(t *testing.T) { in.testWorkDir(t) })
	t.Run("no core dumps", func(t *testing.T) { in.testCore(t) })

	t.Run("reinstall keeps control files", func(t *testing.T) {
		conf := filepath.Join(in.ctl, "simscan.conf")
		edited := readFile(t, conf) + "# edited by the administrator\n"
		writeFile(t, conf, edited, 0o644)
		out := in.make(t, "install", "QMAILDIR="+in.qmail)
		if readFile(t, conf) != edited {
			t.Errorf("second install replaced simscan.conf")
		}
		for _, f := range []string{"simscan.conf", "simcontrol", "ssattach"} {
			if !strings.Contains(out, "kept existing "+filepath.Join(in.ctl, f)) {
				t.Errorf("second install did not keep %s:\n%s", f, out)
			}
		}
		if strings.Contains(out, "created user") {
			t.Errorf("second install created the user again:\n%s", out)
		}
		checkFile(t, filepath.Join(in.bin, "simscan"), in.account.uid, in.account.gid, 0o711|os.ModeSetuid)
		in.run(t, runSpec{}).wantDelivered(t)
	})

	t.Run("DESTDIR", func(t *testing.T) {
		dest := publicTempDir(t, "simscan-destdir-", 0o755)
		_, errBefore := os.Lstat("/var/qmail/bin/simscan")
		in.make(t, "install", "DESTDIR="+dest, "QMAILDIR=/var/qmail")
		a := in.account
		checkFile(t, filepath.Join(dest, "var/qmail/bin/simscan"), a.uid, a.gid, 0o711|os.ModeSetuid)
		checkFile(t, filepath.Join(dest, "var/qmail/bin/simscanctl"), 0, 0, 0o755)
		checkFile(t, filepath.Join(dest, "var/qmail/simscan"), a.uid, a.gid, 0o750|os.ModeSetgid|os.ModeDir)
		conf := readFile(t, filepath.Join(dest, "var/qmail/control/simscan.conf"))
		if conf != readFile(t, filepath.Join(in.src, "contrib", "simscan.conf.example")) {
			t.Errorf("with the default locations simscan.conf should be the example as it is")
		}
		if _, err := os.Lstat("/var/qmail/bin/simscan"); errBefore != nil && err == nil {
			t.Errorf("install with DESTDIR wrote /var/qmail/bin/simscan")
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		out := in.make(t, "uninstall", "QMAILDIR="+in.qmail)
		for _, b := range []string{"simscan", "simscanmk", "simscanctl"} {
			if _, err := os.Lstat(filepath.Join(in.bin, b)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s still installed: %v", b, err)
			}
		}
		for _, f := range []string{"simscan.conf", "simcontrol", "ssattach"} {
			if _, err := os.Stat(filepath.Join(in.ctl, f)); err != nil {
				t.Errorf("uninstall removed %s: %v", f, err)
			}
		}
		if _, err := os.Stat(in.work); err != nil {
			t.Errorf("uninstall removed the work directory: %v", err)
		}
		if !strings.Contains(out, "left alone") {
			t.Errorf("uninstall does not say what it left:\n%s", out)
		}
		if _, err := user.Lookup(in.user); err != nil {
			t.Errorf("uninstall removed the account: %v", err)
		}
	})
}

func passwdLine(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("getent", "passwd", name).Output()
	if err != nil {
		t.Fatalf("getent passwd %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// checkFile checks the owner, group and mode (type, permission, set-id
// bits) of path.
func checkFile(t *testing.T, path string, uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode() != mode {
		t.Errorf("%s: owner %d:%d mode %v, want %d:%d %v", path, st.Uid, st.Gid, fi.Mode(), uid, gid, mode)
	}
}

func credential(uid, gid uint32, groups ...uint32) *syscall.Credential {
	if groups == nil {
		groups = []uint32{}
	}
	return &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}
}

// addQueue installs the qmail-queue that the installed simscan.conf names:
// a shell script that writes its environment to RECORDER_DIR/shenv.PID and
// then becomes the recording fake qmail-queue of testdata. The two views
// complement each other: the dynamically linked shell runs in secure mode
// (simscan's effective uid differs from the real one), so the loader
// strips LD_PRELOAD and its kin before the shell sees them, but keeps other
// variables as they are; the Go recorder keeps LD_* variables as they are
// but sets GOTRACEBACK=none itself.
func (in *installation) addQueue(t *testing.T) {
	t.Helper()
	rec := filepath.Join(in.bin, "qmail-queue-recorder")
	cmd := exec.Command(goTool(t), "build", "-o", rec, "./testdata/qmail-queue-recorder")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the recorder: %v\n%s", err, out)
	}
	// Absolute paths only: the caller's PATH reaches this script.
	envCmd, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(in.bin, "qmail-queue"),
		"#!/bin/sh\n"+envCmd+" >\"$RECORDER_DIR/shenv.$$\"\nexec "+rec+"\n", 0o755)
}

// runSpec is one run of the installed simscan as an unprivileged caller.
type runSpec struct {
	env  []string // added to the base environment
	args []string
}

// result is what one run left behind.
type result struct {
	code    int
	stderr  string
	msg     string // what was sent
	env     string
	records []string // recorder directories
	shEnv   []string // the shell wrapper's environment dumps
}

const testEnvelope = "Fsender@example.net\x00Trcpt@example.com\x00\x00"

// baseEnv is the environment qmail-smtpd would pass, plus the recorder's
// directory and a variable that must come through untouched.
func baseEnv(recDir string) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"TCPREMOTEIP=192.0.2.1",
		"RECORDER_DIR=" + recDir,
		"SIMSCAN_TEST_KEEP=kept",
	}
}

// envelopePipe returns the read end of a pipe holding the envelope, as
// qmail-smtpd gives it on fd 1.
func envelopePipe(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(testEnvelope); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { r.Close() })
	return r
}

// run runs the installed simscan as nobody with a message on fd 0 and the
// envelope on a pipe at fd 1, and collects what the fake qmail-queue got.
func (in *installation) run(t *testing.T, spec runSpec) *result {
	t.Helper()
	recDir := publicTempDir(t, "simscan-rec-", 0o777)
	msg := fmt.Sprintf("From: sender@example.net\nTo: rcpt@example.com\nSubject: test %s\n\nhello\n", t.Name())
	msgPath := filepath.Join(t.TempDir(), "msg")
	writeFile(t, msgPath, msg, 0o600) // opened by root: the caller needs no access
	msgFile, err := os.Open(msgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer msgFile.Close()

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(in.bin, "simscan"), spec.args...)
	cmd.Dir = publicTempDir(t, "simscan-cwd-", 0o777)
	cmd.Env = append(baseEnv(recDir), spec.env...)
	cmd.Stdin = msgFile
	cmd.Stdout = envelopePipe(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(in.nobody.uid, in.nobody.gid)}
	err = cmd.Run()
	r := &result{msg: msg, env: testEnvelope, stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running simscan: %v", err)
	}
	entries, err := os.ReadDir(recDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "shenv."):
			r.shEnv = append(r.shEnv, readFile(t, filepath.Join(recDir, e.Name())))
		case !strings.HasPrefix(e.Name(), "."):
			r.records = append(r.records, filepath.Join(recDir, e.Name()))
		}
	}
	return r
}

// wantDelivered checks that the installed qmail-queue got the message and
// envelope exactly once, with the variable that must pass through.
func (r *result) wantDelivered(t *testing.T) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("simscan exit %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if len(r.records) != 1 || len(r.shEnv) != 1 {
		t.Fatalf("the installed qmail-queue ran %d times (%d shell dumps), want once; stderr:\n%s", len(r.records), len(r.shEnv), r.stderr)
	}
	rec := r.records[0]
	if got := readFile(t, filepath.Join(rec, "msg")); got != r.msg {
		t.Errorf("qmail-queue got message %q, want %q", got, r.msg)
	}
	if got := readFile(t, filepath.Join(rec, "env")); got != r.env {
		t.Errorf("qmail-queue got envelope %q, want %q", got, r.env)
	}
	if !strings.Contains(r.recorderEnv(t), "env SIMSCAN_TEST_KEEP=kept\n") || !strings.Contains(r.shEnv[0], "SIMSCAN_TEST_KEEP=kept\n") {
		t.Errorf("the environment did not reach qmail-queue")
	}
}

// recorderEnv is the recorder's "args" file: argv and environment.
func (r *result) recorderEnv(t *testing.T) string {
	t.Helper()
	return readFile(t, filepath.Join(r.records[0], "args"))
}

// hasVar reports whether a dump holds the variable name, in the shell's
// "NAME=value" lines or the recorder's "env NAME=value" lines.
func hasVar(dump, name string) bool {
	sc := bufio.NewScanner(strings.NewReader(dump))
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "env ")
		if strings.HasPrefix(line, name+"=") {
			return true
		}
	}
	return false
}

// watcher reports every open or read of a file in some directories, to
// prove that simscan never looked at them.
type watcher struct {
	fd   int
	dirs map[int]string
}

func newWatcher(t *testing.T, dirs ...string) *watcher {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	w := &watcher{fd: fd, dirs: map[int]string{}}
	for _, d := range dirs {
		wd, err := unix.InotifyAddWatch(fd, d, unix.IN_OPEN|unix.IN_ACCESS|unix.IN_CREATE)
		if err != nil {
			t.Fatalf("inotify %s: %v", d, err)
		}
		w.dirs[wd] = d
	}
	return w
}

// events returns what happened since the last call, as "dir/name" lines.
func (w *watcher) events(t *testing.T) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		if err != nil {
			t.Fatalf("inotify read: %v", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			out = append(out, fmt.Sprintf("%s/%s (mask %#x)", w.dirs[int(ev.Wd)], name, ev.Mask))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// testEnvironment runs simscan with each thing its caller controls set
// against it, and checks that the installed control directory's
// qmail-queue still gets the message, that nothing in the caller's
// directories is opened or run, and that the variables that steer loaders
// and the Go runtime do not reach qmail-queue.
func (in *installation) testEnvironment(t *testing.T) {
	evil := publicTempDir(t, "simscan-evil-", 0o755)
	markers := mkdir(t, filepath.Join(evil, "markers"), 0o777)
	evilWork := mkdir(t, filepath.Join(evil, "work"), 0o777)

	// A control directory naming another qmail-queue and work directory.
	evilCtl := mkdir(t, filepath.Join(evil, "control"), 0o755)
	evilQueue := filepath.Join(evil, "queue", "qmail-queue")
	mkdir(t, filepath.Dir(evilQueue), 0o755)
	writeFile(t, evilQueue, "#!/bin/sh\necho ran >"+filepath.Join(markers, "control-queue")+"\ncat >/dev/null\n", 0o755)
	writeFile(t, filepath.Join(evilCtl, "simscan.conf"), "qmailqueue = "+evilQueue+"\nworkdir = "+evilWork+"\n", 0o644)

	// A PATH directory with programs simscan must not run.
	evilBin := mkdir(t, filepath.Join(evil, "bin"), 0o755)
	for _, p := range []string{"qmail-queue", "simscan", "sh", "clamdscan", "spamc"} {
		writeFile(t, filepath.Join(evilBin, p), "#!/bin/sh\necho ran >"+filepath.Join(markers, "path-"+p)+"\n", 0o755)
	}

	// A shared object that leaves a marker wherever it is loaded.
	evilLib := mkdir(t, filepath.Join(evil, "lib"), 0o755)
	preload := buildPreload(t, evilLib, filepath.Join(markers, "preload"))
	ctl := exec.Command("/bin/true")
	ctl.Env = []string{"LD_PRELOAD=" + preload}
	ctl.SysProcAttr = &syscall.SysProcAttr{Credential: credential(in.nobody.uid, in.nobody.gid)}
	if err := ctl.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(markers, "preload")); err != nil {
		t.Fatalf("control: LD_PRELOAD of the marker library does not work for an ordinary program: %v", err)
	}
	os.Remove(filepath.Join(markers, "preload"))

	attacks := []struct {
		name string
		spec runSpec
		gone []string // variables qmail-queue must not see (in both views)
	}{
		{"SIMSCAN_CONTROLDIR", runSpec{env: []string{"SIMSCAN_CONTROLDIR=" + evilCtl}}, nil},
		{"PATH", runSpec{env: []string{"PATH=" + evilBin}}, nil},
		{"LD_PRELOAD", runSpec{env: []string{"LD_PRELOAD=" + preload, "LD_LIBRARY_PATH=" + evilLib, "LD_SIMSCAN_PROBE=1"}}, []string{"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_SIMSCAN_PROBE"}},
		{"GODEBUG", runSpec{env: []string{"GODEBUG=inittrace=1,gctrace=1"}}, []string{"GODEBUG"}},
		{"GOTRACEBACK", runSpec{env: []string{"GOTRACEBACK=crash"}}, nil},
		{"arguments", runSpec{args: []string{"-c", evilCtl, "--control=" + evilCtl, "--qmailqueue", evilQueue, evilCtl}}, nil},
		{"all at once", runSpec{
			env: []string{"SIMSCAN_CONTROLDIR=" + evilCtl, "PATH=" + evilBin, "LD_PRELOAD=" + preload,
				"LD_LIBRARY_PATH=" + evilLib, "LD_SIMSCAN_PROBE=1", "GODEBUG=inittrace=1", "GOTRACEBACK=crash", "IFS=/"},
			args: []string{"-c", evilCtl},
		}, []string{"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_SIMSCAN_PROBE", "GODEBUG", "IFS"}},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			w := newWatcher(t, evilCtl, filepath.Dir(evilQueue), evilBin, evilLib, evilWork)
			r := in.run(t, a.spec)
			r.wantDelivered(t)
			if ev := w.events(t); len(ev) > 0 {
				t.Errorf("simscan touched the caller's files:\n%s", strings.Join(ev, "\n"))
			}
			if m, _ := os.ReadDir(markers); len(m) > 0 {
				t.Errorf("a program or library of the caller ran: marker %s", m[0].Name())
			}
			if e, _ := os.ReadDir(evilWork); len(e) > 0 {
				t.Errorf("simscan used the caller's work directory")
			}
			for _, v := range a.gone {
				if hasVar(r.recorderEnv(t), v) || hasVar(r.shEnv[0], v) {
					t.Errorf("%s reached qmail-queue", v)
				}
			}
			// The Go recorder replaces GOTRACEBACK itself; the shell shows
			// what simscan passed.
			if strings.Contains(r.shEnv[0], "GOTRACEBACK=crash") {
				t.Errorf("GOTRACEBACK=crash reached qmail-queue")
			}
		})
	}
}

// buildPreload compiles a shared object whose constructor creates marker.
func buildPreload(t *testing.T, dir, marker string) string {
	t.Helper()
	src := filepath.Join(dir, "marker.c")
	so := filepath.Join(dir, "marker.so")
	writeFile(t, src, `#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void mark(void) {
	int fd = open(MARKER, O_WRONLY | O_CREAT | O_APPEND, 0666);
	if (fd >= 0) {
		write(fd, "loaded\n", 7);
		close(fd);
	}
}
`, 0o644)
	cmd := exec.Command("gcc", "-shared", "-fPIC", "-o", so, "-DMARKER=\""+marker+"\"", src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc (needed to build the LD_PRELOAD probe): %v\n%s", err, out)
	}
	if err := os.Chmod(so, 0o755); err != nil {
		t.Fatal(err)
	}
	return so
}

// asUser runs argv with the given credentials and returns its error.
func asUser(cred *syscall.Credential, argv ...string) ([]byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	return cmd.CombinedOutput()
}

// wantPrivate checks a message work directory: simscan's, group simscan,
// 2750, files 0640, and unreadable to the caller and to a third user; a
// member of the simscan group (clamd, for path scanning) can read it.
func (in *installation) wantPrivate(t *testing.T, dir string) {
	t.Helper()
	a := in.account
	checkFile(t, dir, a.uid, a.gid, 0o750|os.ModeSetgid|os.ModeDir)
	msg := filepath.Join(dir, "msg")
	checkFile(t, msg, a.uid, a.gid, 0o640)
	others := map[string]*syscall.Credential{
		"the caller":   credential(in.nobody.uid, in.nobody.gid),
		"a third user": credential(thirdID, thirdID),
	}
	for who, cred := range others {
		if out, err := asUser(cred, "cat", msg); err == nil {
			t.Errorf("%s can read %s: %q", who, msg, out)
		}
		if out, err := asUser(cred, "ls", dir); err == nil {
			t.Errorf("%s can list %s: %q", who, dir, out)
		}
		if out, err := asUser(cred, "ls", in.work); err == nil {
			t.Errorf("%s can list %s: %q", who, in.work, out)
		}
	}
	if out, err := asUser(credential(thirdID, thirdID, a.gid), "cat", msg); err != nil {
		t.Errorf("a member of the simscan group cannot read %s: %v %s", msg, err, out)
	}
}

// newWorkDirs returns the message directories in the work directory that
// are not in before.
func (in *installation) newWorkDirs(t *testing.T, before map[string]bool) []string {
	t.Helper()
	entries, err := os.ReadDir(in.work)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !before[e.Name()] {
			out = append(out, filepath.Join(in.work, e.Name()))
		}
	}
	return out
}

func (in *installation) workDirs(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(in.work)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

// testWorkDir keeps a message's work directory with SIMSCAN_DEBUG_FILES=1
// and checks who can read it.
func (in *installation) testWorkDir(t *testing.T) {
	before := in.workDirs(t)
	r := in.run(t, runSpec{env: []string{"SIMSCAN_DEBUG_FILES=1"}})
	r.wantDelivered(t)
	dirs := in.newWorkDirs(t, before)
	if len(dirs) != 1 {
		t.Fatalf("%d work directories kept, want 1; stderr:\n%s", len(dirs), r.stderr)
	}
	defer os.RemoveAll(dirs[0])
	if got := readFile(t, filepath.Join(dirs[0], "msg")); got != r.msg {
		t.Errorf("kept msg %q, want %q", got, r.msg)
	}
	in.wantPrivate(t, dirs[0])
}

// blocked is a simscan run whose message is still being sent: it blocks
// reading fd 0, with the message so far in its work directory.
type blocked struct {
	cmd  *exec.Cmd
	in   *os.File // the write end of fd 0
	dir  string   // its message work directory
	cwd  string
	done chan error
}

// startBlocked starts simscan as nobody with GOTRACEBACK=crash, sends part
// of a message and waits until the part is in the work directory.
func (in *installation) startBlocked(t *testing.T, secret string) *blocked {
	t.Helper()
	before := in.workDirs(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &blocked{in: w, cwd: publicTempDir(t, "simscan-cwd-", 0o777), done: make(chan error, 1)}
	b.cmd = exec.Command(filepath.Join(in.bin, "simscan"))
	b.cmd.Dir = b.cwd
	b.cmd.Env = append(baseEnv(publicTempDir(t, "simscan-rec-", 0o777)), "GOTRACEBACK=crash")
	b.cmd.Stdin = r
	b.cmd.Stdout = envelopePipe(t)
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(in.nobody.uid, in.nobody.gid)}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() {
		w.Close()
		b.cmd.Process.Kill()
		<-b.done
	})
	if _, err := w.WriteString("Subject: private\n\n" + secret + "\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		if dirs := in.newWorkDirs(t, before); len(dirs) == 1 {
			if fi, err := os.Stat(filepath.Join(dirs[0], "msg")); err == nil && fi.Size() > 0 {
				b.dir = dirs[0]
				return b
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("simscan did not spool the message in time")
	return nil
}

// testCore checks that a simscan holding part of a message cannot be made
// to dump core or expose its memory: its core limit is 0 even though its
// caller's is unlimited, /proc/PID belongs to root (not dumpable), and the
// signals that dump core by default leave no core file even with
// GOTRACEBACK=crash. It also checks the work directory's modes while the
// message is being spooled.
func (in *installation) testCore(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &old); err != nil {
		t.Fatal(err)
	}
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &inf); err != nil {
		t.Fatalf("raising the core limit so that a 0 can only come from simscan: %v", err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_CORE, &old) })

	// Control: with this limit an ordinary program dumps core into its
	// working directory, or core files go elsewhere and only the limits
	// below can be checked.
	filesVisible := coreControl(t, in.nobody)
	if !filesVisible {
		pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
		t.Logf("core files do not appear in the working directory here (core_pattern %q): checking limits and dumpability only", strings.TrimSpace(string(pattern)))
	}

	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGABRT, syscall.SIGSEGV} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			const secret = "SECRET-7f3a9c-PAYLOAD"
			b := in.startBlocked(t, secret)
			pid := b.cmd.Process.Pid

			limits := readFile(t, fmt.Sprintf("/proc/%d/limits", pid))
			if !coreLimitZero(limits) {
				t.Errorf("core limit of the running simscan is not 0:\n%s", limits)
			}
			fi, err := os.Stat(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 0 {
				t.Errorf("/proc/%d belongs to uid %d: simscan is dumpable", pid, uid)
			}
			for _, f := range []string{"environ", "maps", "mem"} {
				if out, err := asUser(credential(in.nobody.uid, in.nobody.gid), "cat", fmt.Sprintf("/proc/%d/%s", pid, f)); err == nil {
					t.Errorf("the caller can read /proc/%d/%s: %.60q", pid, f, out)
				}
			}
			in.wantPrivate(t, b.dir)

			// The caller sends the signal, as it may: simscan runs with
			// the caller's real uid.
			if out, err := asUser(credential(in.nobody.uid, in.nobody.gid), "/bin/sh", "-c", `kill -s "$1" "$2"`, "sh",
				strings.TrimPrefix(unix.SignalName(sig), "SIG"), strconv.Itoa(pid)); err != nil {
				t.Fatalf("kill as the caller: %v %s", err, out)
			}
			var werr error
			select {
			case werr = <-b.done:
			case <-time.After(runTimeout):
				t.Fatalf("simscan did not end after %v", sig)
			}
			b.done <- werr // for the cleanup
			if ps := b.cmd.ProcessState; ps != nil {
				if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.CoreDump() {
					t.Errorf("simscan dumped core on %v", sig)
				}
			}
			if filesVisible {
				for _, d := range []string{b.cwd, b.dir, in.work} {
					if f := findCore(d, secret); f != "" {
						t.Errorf("core file %s after %v", f, sig)
					}
				}
			}
			if _, err := os.Stat(b.dir); err == nil {
				// Not handled by simscan: the spooled part stays until
				// stale_age; it must stay private meanwhile.
				t.Logf("%v left the work directory %s behind", sig, b.dir)
				in.wantPrivate(t, b.dir)
				os.RemoveAll(b.dir)
			}
		})
	}
}

func coreLimitZero(limits string) bool {
	for _, line := range strings.Split(limits, "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			f := strings.Fields(strings.TrimPrefix(line, "Max core file size"))
			return len(f) >= 2 && f[0] == "0" && f[1] == "0"
		}
	}
	return false
}

// coreControl aborts a sleep as user in a fresh directory and reports
// whether a core file appeared there.
func coreControl(t *testing.T, u account) bool {
	t.Helper()
	dir := publicTempDir(t, "simscan-corectl-", 0o777)
	cmd := exec.Command("sleep", "30")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(u.uid, u.gid)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGABRT)
	cmd.Wait()
	return findCore(dir, "") != ""
}

// findCore returns a file in dir (not below) whose name starts with
// "core" or that contains needle.
func findCore(dir, needle string) string {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), "core") {
			return p
		}
		if needle != "" && e.Type().IsRegular() && e.Name() != "msg" {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(needle)) {
				return p
			}
		}
	}
	return ""
}
