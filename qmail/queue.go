package qmail

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// Exec replaces the running process with prog (qmail-queue or another
// program that reads its fds the same way), with msg as its fd 0 and env as
// its fd 1, both read from their start. The exit code of prog becomes ours,
// so nothing sits between qmail-queue and qmail-smtpd. Exec returns only on
// failure; by then fds 0 and 1 may already point at msg and env.
func Exec(prog string, msg, env *os.File, environ []string) error {
	if err := unix.Faccessat(unix.AT_FDCWD, prog, unix.X_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("%s: %w", prog, err)
	}
	for _, f := range []*os.File{msg, env} {
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
	}
	// dup2 leaves the new descriptors without close-on-exec.
	if err := unix.Dup2(int(msg.Fd()), 0); err != nil {
		return fmt.Errorf("dup2 message: %w", err)
	}
	if err := unix.Dup2(int(env.Fd()), 1); err != nil {
		return fmt.Errorf("dup2 envelope: %w", err)
	}
	err := unix.Exec(prog, []string{prog}, environ)
	return fmt.Errorf("exec %s: %w", prog, err)
}

// Run starts prog with msg on its fd 0 and env on its fd 1, waits for it and
// returns its exit code. It is for tools that must go on after qmail-queue
// (a quarantine release); simscan itself uses Exec.
func Run(prog string, msg, env *os.File, environ []string) (ExitCode, error) {
	for _, f := range []*os.File{msg, env} {
		if _, err := f.Seek(0, 0); err != nil {
			return TempFail, err
		}
	}
	cmd := exec.Command(prog)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = msg, env, os.Stderr, environ
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.Exited() {
			return ExitCode(ee.ExitCode()), nil
		}
		return InternalBug, fmt.Errorf("%s: %v", prog, ee)
	}
	if err != nil {
		return TempFail, err
	}
	return OK, nil
}

// SafeEnviron is environ without the variables that steer a dynamic loader
// or the Go runtime. A setuid simscan passes it to qmail-queue, so whoever
// starts simscan cannot change what runs after it.
func SafeEnviron(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "LD_") || name == "GODEBUG" || name == "GOTRACEBACK" || name == "GOMAXPROCS" || name == "GOGC" || name == "GOMEMLIMIT" || name == "IFS" {
			continue
		}
		out = append(out, kv)
	}
	return out
}
