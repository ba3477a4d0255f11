package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// delivery is one run of a queue program (simscan or the recorder) as
// qmail-smtpd runs it.
type delivery struct {
	Wall   time.Duration
	Code   int
	Stderr string // only when asked for
}

// deliver runs prog with msg written to a pipe at its fd 0 and the
// envelope to a pipe at its fd 1, the way qmail-smtpd does: the whole
// message, close, then the envelope, close. The wall time runs from just
// before the process is started to just after it has been waited for.
// stderr is kept only when keepStderr is set; otherwise it is /dev/null,
// so the bench process does no work for it during the run.
func deliver(prog string, environ []string, msg []byte, keepStderr bool) (delivery, error) {
	msgR, msgW, err := os.Pipe()
	if err != nil {
		return delivery{}, err
	}
	envR, envW, err := os.Pipe()
	if err != nil {
		msgR.Close()
		msgW.Close()
		return delivery{}, err
	}
	cmd := exec.Command(prog)
	cmd.Env = environ
	cmd.Stdin, cmd.Stdout = msgR, envR
	var stderr bytes.Buffer
	if keepStderr {
		cmd.Stderr = &stderr
	}
	var wg sync.WaitGroup
	start := time.Now()
	err = cmd.Start()
	msgR.Close()
	envR.Close()
	if err != nil {
		msgW.Close()
		envW.Close()
		return delivery{}, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A program that exits before reading everything makes these
		// writes fail with EPIPE; its exit code tells the story.
		msgW.Write(msg)
		msgW.Close()
		io.WriteString(envW, envelope)
		envW.Close()
	}()
	err = cmd.Wait()
	d := delivery{Wall: time.Since(start), Stderr: stderr.String()}
	wg.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return d, err
	}
	d.Code = cmd.ProcessState.ExitCode()
	if d.Code < 0 {
		return d, fmt.Errorf("%s: %v", prog, cmd.ProcessState)
	}
	return d, nil
}

// peakRSS runs prog under limitrun with the message file at fd 0 and the
// envelope file at fd 1, and returns its peak resident set in KiB and its
// exit code. The rusage of a child started by this process would not do:
// the runtime starts children with vfork, and Linux counts the parent's
// own peak into the child's at exec; limitrun's own peak is about 2 MB.
func peakRSS(limitrun, report, prog string, environ []string, msgFile, envFile string) (kb int64, code int, err error) {
	msg, err := os.Open(msgFile)
	if err != nil {
		return 0, 0, err
	}
	defer msg.Close()
	env, err := os.Open(envFile)
	if err != nil {
		return 0, 0, err
	}
	defer env.Close()
	os.Remove(report)
	cmd := exec.Command(limitrun, "-report", report, prog)
	cmd.Env = environ
	cmd.Stdin, cmd.Stdout = msg, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, 0, err
	}
	data, err := os.ReadFile(report)
	if err != nil {
		return 0, 0, fmt.Errorf("limitrun wrote no report: %v: %s", err, stderr.String())
	}
	if _, err := fmt.Sscanf(string(data), "maxrss_kb=%d exit=%d", &kb, &code); err != nil {
		return 0, 0, fmt.Errorf("limitrun report %q: %v", data, err)
	}
	return kb, code, nil
}

// concurrently runs n calls of fn with at most c at a time and returns the
// wall time of the whole batch and the first error.
func concurrently(ctx context.Context, n, c int, fn func() error) (time.Duration, error) {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= n || first != nil || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				if err := fn(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return time.Since(start), first
}
