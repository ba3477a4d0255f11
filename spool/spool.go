// Package spool owns simscan's work directories: one per message, named
// SECONDS.MICROSECONDS.PID.RANDOM under the configured workdir and created
// with mkdir, which fails if the name exists, so names are unique across
// concurrent processes and PID namespaces. A process killed with SIGKILL
// cannot remove its directory; RemoveStale, run by the next simscan and by
// simscanctl cleanup, removes those older than a configured age.
package spool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Create makes a new work directory under base, mode 0750, and returns its
// path.
func Create(base string, now time.Time, pid int) (string, error) {
	var rnd [4]byte
	var err error
	for try := 0; try < 5; try++ {
		if _, err = rand.Read(rnd[:]); err != nil {
			return "", err
		}
		name := filepath.Join(base, fmt.Sprintf("%d.%06d.%d.%s", now.Unix(), now.Nanosecond()/1000, pid, hex.EncodeToString(rnd[:])))
		if err = os.Mkdir(name, 0o750); err == nil {
			return name, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", err
}

// Started returns the time a work directory's name records, and false for
// a name that is not a work directory's.
func Started(name string) (time.Time, bool) {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return time.Time{}, false
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	usec, err2 := strconv.ParseInt(parts[1], 10, 64)
	_, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || usec < 0 || usec > 999999 {
		return time.Time{}, false
	}
	return time.Unix(sec, usec*1000), true
}

// RemoveStale removes the work directories under base whose names say they
// were started before now-age, and returns their paths. Other entries are
// left alone. Only the names are read, so a call on a busy workdir is cheap.
func RemoveStale(base string, age time.Duration, now time.Time) ([]string, error) {
	d, err := os.Open(base)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	cutoff := now.Add(-age)
	var removed []string
	var errs []error
	for _, n := range names {
		t, ok := Started(n)
		if !ok || !t.Before(cutoff) {
			continue
		}
		p := filepath.Join(base, n)
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
