// Command qmail-queue-recorder is a fake qmail-queue for end-to-end tests.
//
// It reads what qmail-queue(8) reads, in the same order: the message on
// descriptor 0 until end of file, then the envelope on descriptor 1 up to and
// including the terminating empty recipient ("F<from>\0T<rcpt>\0...\0\0").
// It stops reading the envelope at that terminator, as qmail-queue does, so a
// writer that never closes descriptor 1 is not waited for.
//
// When RECORDER_DIR is set, every invocation leaves one directory
// RECORDER_DIR/<unixnano>.<pid> holding
//
//	msg   the message bytes exactly as read
//	env   the envelope bytes exactly as read
//	args  "argv <n> <value>" lines, then "env NAME=VALUE" lines for the
//	      whole environment, sorted
//
// The directory is filled under a hidden temporary name and renamed into place,
// so a reader never sees a half-written record. Without RECORDER_DIR the input
// is read and discarded, which makes the program the floor for benchmarks.
//
// The exit code is RECORDER_EXIT (default 0). As qmail-queue does, it exits 91
// ("envelope format error") when the envelope does not follow the grammar and
// 54 ("unable to read the envelope") when it ends early; the record is still
// written in both cases. With RECORDER_NOREAD=1 it reads nothing, records only
// args (no msg or env file) and exits with RECORDER_EXIT at once.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Exit codes from qmail-queue(8).
const (
	exitBadEnvelope = 91 // envelope format error
	exitRead        = 54 // unable to read the message or envelope
	exitBug         = 81 // internal bug
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr, os.Args, os.Environ(), time.Now))
}

func run(msgIn, envIn io.Reader, stderr io.Writer, args, environ []string, now func() time.Time) int {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	code := 0
	if s := env["RECORDER_EXIT"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			fmt.Fprintf(stderr, "qmail-queue-recorder: bad RECORDER_EXIT %q\n", s)
			return exitBug
		}
		code = n
	}

	rec := record{args: formatArgs(args, environ)}
	if env["RECORDER_NOREAD"] != "1" {
		rec.read = true
		var err error
		rec.msg, err = io.ReadAll(msgIn)
		if err != nil {
			fmt.Fprintf(stderr, "qmail-queue-recorder: read message: %v\n", err)
			code = exitRead
		} else {
			rec.env, err = readEnvelope(envIn)
			switch {
			case errors.Is(err, errBadEnvelope):
				code = exitBadEnvelope
			case err != nil:
				code = exitRead
			}
			if err != nil {
				fmt.Fprintf(stderr, "qmail-queue-recorder: %v\n", err)
			}
		}
	}

	if dir := env["RECORDER_DIR"]; dir != "" {
		id := fmt.Sprintf("%020d.%d", now().UnixNano(), os.Getpid())
		if err := rec.save(dir, id); err != nil {
			fmt.Fprintf(stderr, "qmail-queue-recorder: %v\n", err)
			return exitBug
		}
	}
	return code
}

var errBadEnvelope = errors.New("envelope format error")

// readEnvelope reads the envelope the way qmail-queue.c does: 'F', the sender
// up to '\0', then 'T' recipients each up to '\0', until a lone '\0'. It
// returns the bytes read so far even on error.
func readEnvelope(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	var out []byte
	next := func() (byte, error) {
		c, err := br.ReadByte()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, fmt.Errorf("read envelope: %w", err)
		}
		out = append(out, c)
		return c, nil
	}
	field := func() error {
		for {
			c, err := next()
			if err != nil || c == 0 {
				return err
			}
		}
	}
	c, err := next()
	if err != nil {
		return out, err
	}
	if c != 'F' {
		return out, fmt.Errorf("%w: starts with %q, not 'F'", errBadEnvelope, c)
	}
	if err := field(); err != nil {
		return out, err
	}
	for {
		c, err := next()
		if err != nil {
			return out, err
		}
		if c == 0 {
			return out, nil
		}
		if c != 'T' {
			return out, fmt.Errorf("%w: recipient starts with %q, not 'T'", errBadEnvelope, c)
		}
		if err := field(); err != nil {
			return out, err
		}
	}
}

func formatArgs(args, environ []string) []byte {
	var b strings.Builder
	for i, a := range args {
		fmt.Fprintf(&b, "argv %d %s\n", i, a)
	}
	env := append([]string(nil), environ...)
	sort.Strings(env)
	for _, kv := range env {
		fmt.Fprintf(&b, "env %s\n", kv)
	}
	return []byte(b.String())
}

type record struct {
	read     bool // false with RECORDER_NOREAD=1: no msg or env file
	msg, env []byte
	args     []byte
}

// save writes the record into dir/.tmp.<id> and renames it to dir/<id>.
func (r record) save(dir, id string) error {
	tmp := filepath.Join(dir, ".tmp."+id)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{"args": r.args}
	if r.read {
		files["msg"] = r.msg
		files["env"] = r.env
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, id)); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}
