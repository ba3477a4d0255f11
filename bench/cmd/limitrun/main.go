// Command limitrun runs a program under memory and file descriptor limits
// and records how much memory it used at its peak. The soak test puts it
// between qpsmtpd and simscan; the benchmark matrix runs simscan under it
// to measure simscan's own peak memory.
//
//	limitrun [-data BYTES] [-nofile N] [-report FILE] PROGRAM [ARG...]
//
// The limits are setrlimit(2)'s RLIMIT_DATA and RLIMIT_NOFILE, set on the
// child only. RLIMIT_DATA rather than RLIMIT_AS: a Go program reserves far
// more address space than it uses (its heap arena index alone), so an
// address-space limit says nothing about the memory it touches, while
// RLIMIT_DATA counts the private writable mappings a heap is made of.
//
// The child inherits descriptors 0 to 9 as they are open in limitrun
// (qmail-smtpd's error descriptors 4 and 6 among them). limitrun waits for it and exits with its exit code (128+n for
// signal n, as a shell reports it).
//
// With -report, one line is appended to FILE for the run:
//
//	maxrss_kb=<peak resident set in KiB> exit=<code> pid=<pid>
//
// The peak comes from wait4(2)'s rusage and covers every program the
// child became by exec (simscan execs qmail-queue). The runtime starts the
// child with vfork, and Linux counts the starting process's own peak into
// the child's at its first exec, so the figure is never below limitrun's
// own resident set (about 2 MB): that is its floor.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("limitrun", flag.ContinueOnError)
	data := fs.String("data", "", "RLIMIT_DATA in bytes (suffix k, m or g)")
	nofile := fs.Int("nofile", 0, "RLIMIT_NOFILE")
	report := fs.String("report", "", "append the child's peak memory and exit code to this file")
	if err := fs.Parse(args); err != nil {
		return 100
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: limitrun [-data BYTES] [-nofile N] [-report FILE] PROGRAM [ARG...]")
		return 100
	}
	var limits []rlimit
	if *data != "" {
		n, err := parseBytes(*data)
		if err != nil {
			fmt.Fprintf(os.Stderr, "limitrun: -data: %v\n", err)
			return 100
		}
		limits = append(limits, rlimit{syscall.RLIMIT_DATA, n})
	}
	if *nofile > 0 {
		limits = append(limits, rlimit{syscall.RLIMIT_NOFILE, uint64(*nofile)})
	}
	pid, err := start(fs.Args(), limits)
	if err != nil {
		fmt.Fprintf(os.Stderr, "limitrun: %v\n", err)
		return 111
	}
	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err = unix.Wait4(pid, &ws, 0, &ru)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "limitrun: wait: %v\n", err)
		return 111
	}
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if *report != "" {
		line := fmt.Sprintf("maxrss_kb=%d exit=%d pid=%d\n", ru.Maxrss, code, pid)
		f, err := os.OpenFile(*report, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = f.WriteString(line) // one short write: O_APPEND keeps lines whole
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "limitrun: report: %v\n", err)
		}
	}
	return code
}

type rlimit struct {
	resource int
	max      uint64
}

// start starts argv as a child with the limits set. They are set on
// limitrun itself, which the child inherits them from: limitrun only
// waits afterwards. syscall.Setrlimit, not the x/sys one, so that the
// runtime does not put back the RLIMIT_NOFILE it found at startup in the
// child.
func start(argv []string, limits []rlimit) (int, error) {
	prog, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, err
	}
	for _, l := range limits {
		if err := syscall.Setrlimit(l.resource, &syscall.Rlimit{Cur: l.max, Max: l.max}); err != nil {
			return 0, fmt.Errorf("setrlimit %d: %w", l.resource, err)
		}
	}
	// ForkExec maps Files by position; a closed descriptor is -1.
	files := []uintptr{0, 1, 2}
	for fd := 3; fd <= 9; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			files = append(files, ^uintptr(0))
		} else {
			files = append(files, uintptr(fd))
		}
	}
	for files[len(files)-1] == ^uintptr(0) {
		files = files[:len(files)-1]
	}
	return syscall.ForkExec(prog, argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
}

// parseBytes reads "256m", "1g", "4096k" or a plain number of bytes.
func parseBytes(s string) (uint64, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "g"):
		mult, s = 1<<30, strings.TrimSuffix(s, "g")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, err
	}
	return n * mult, nil
}
