package quarantine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gosimscan/simscan/qmail"
)

// entryPath checks id and returns the entry's directory.
func entryPath(dir, id string) (string, error) {
	if !ValidID(id) {
		return "", fmt.Errorf("%w: %q", ErrBadID, id)
	}
	return filepath.Join(dir, id), nil
}

// Get reads the metadata of entry id.
func Get(dir, id string) (Meta, error) {
	p, err := entryPath(dir, id)
	if err != nil {
		return Meta{}, err
	}
	return readMeta(p, id)
}

// Open opens the stored message of entry id for reading.
func Open(dir, id string) (*os.File, error) {
	p, err := entryPath(dir, id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(p, MessageFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return f, err
}

// readMeta reads the meta.json of the entry in directory p. The directory
// name is the id, whatever the file says.
func readMeta(p, id string) (Meta, error) {
	data, err := os.ReadFile(filepath.Join(p, MetaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Meta{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Meta{}, err
	}
	var m Meta
	if err := json.Unmarshal(data, &m); err != nil {
		return Meta{}, fmt.Errorf("%s: %w", filepath.Join(p, MetaFile), err)
	}
	m.ID = id
	return m, nil
}

// entry is a complete entry as the size cap and purge see it.
type entry struct {
	meta  Meta
	bytes int64 // message and meta.json together
}

// scan reads every complete entry of dir: a directory with a valid id, a
// readable meta.json and a message file. Anything else (hidden work names,
// stray files, entries damaged by hand) is skipped. A missing dir has no
// entries.
func scan(dir string) ([]entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, de := range des {
		if !de.IsDir() || !ValidID(de.Name()) {
			continue
		}
		p := filepath.Join(dir, de.Name())
		m, err := readMeta(p, de.Name())
		if err != nil {
			continue
		}
		mfi, err := os.Stat(filepath.Join(p, MessageFile))
		if err != nil || !mfi.Mode().IsRegular() {
			continue
		}
		jfi, err := os.Stat(filepath.Join(p, MetaFile))
		if err != nil {
			continue
		}
		out = append(out, entry{meta: m, bytes: mfi.Size() + jfi.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return older(out[i].meta, out[j].meta) })
	return out, nil
}

// usage sums the sizes of the entries of dir that have both files, as
// scan would count them (an entry whose meta.json does not parse aside).
func usage(dir string) (int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, de := range des {
		if !de.IsDir() || !ValidID(de.Name()) {
			continue
		}
		var n int64
		complete := true
		for _, f := range []string{MessageFile, MetaFile} {
			fi, err := os.Stat(filepath.Join(dir, de.Name(), f))
			if err != nil || !fi.Mode().IsRegular() {
				complete = false
				break
			}
			n += fi.Size()
		}
		if complete {
			total += n
		}
	}
	return total, nil
}

// older orders entries by time, then id.
func older(a, b Meta) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}

// Filter selects entries for List. Zero fields match everything.
type Filter struct {
	Class string    // exact class
	From  string    // sender: an address, a domain ("example.com" or "@example.com"), or "<>" for the null sender
	Rcpt  string    // any recipient, matched like From
	Since time.Time // quarantined at or after this time
}

// Match reports whether m passes the filter. Addresses and domains are
// compared without regard to case.
func (f Filter) Match(m Meta) bool {
	if f.Class != "" && m.Class != f.Class {
		return false
	}
	if !f.Since.IsZero() && m.Time.Before(f.Since) {
		return false
	}
	if f.From != "" && !matchAddress(f.From, m.From) {
		return false
	}
	if f.Rcpt != "" {
		found := false
		for _, a := range m.To {
			if matchAddress(f.Rcpt, a) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// matchAddress matches an address against a filter pattern: the whole
// address, a domain alone, or <> for the empty address.
func matchAddress(pattern, addr string) bool {
	if pattern == "<>" {
		return addr == ""
	}
	pattern = strings.ToLower(pattern)
	addr = strings.ToLower(addr)
	local, domain, ok := strings.Cut(pattern, "@")
	if !ok {
		domain, local = pattern, ""
	}
	if local != "" {
		return addr == pattern
	}
	i := strings.LastIndexByte(addr, '@')
	return i >= 0 && addr[i+1:] == domain
}

// List returns the metadata of the complete entries that pass f, oldest
// first. A quarantine directory that does not exist yet is empty.
func List(dir string, f Filter) ([]Meta, error) {
	es, err := scan(dir)
	if err != nil {
		return nil, err
	}
	out := []Meta{}
	for _, e := range es {
		if f.Match(e.meta) {
			out = append(out, e.meta)
		}
	}
	return out, nil
}

// Delete removes entry id. The entry is first renamed to a hidden name, so
// it disappears at once and as a whole.
func Delete(dir, id string) error {
	p, err := entryPath(dir, id)
	if err != nil {
		return err
	}
	unlock, err := lockDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	defer unlock()
	return remove(dir, p, id)
}

// remove deletes the entry at p; the caller holds the lock.
func remove(dir, p, id string) error {
	gone := filepath.Join(dir, delPrefix+id)
	if err := os.RemoveAll(gone); err != nil {
		return err
	}
	if err := os.Rename(p, gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return err
	}
	if err := os.RemoveAll(gone); err != nil {
		return err
	}
	return syncDir(dir)
}

// Trim enforces the size cap: while the complete entries together take
// more than maxBytes, it removes the oldest, by entry time. It never
// removes keep (the entry just stored, which may alone be over the cap),
// nor entries still being written. It returns the ids removed, oldest
// first. maxBytes <= 0 means no cap.
func Trim(dir string, maxBytes int64, keep string) ([]string, error) {
	if maxBytes <= 0 {
		return nil, nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Summing sizes takes two stats an entry; reading every meta.json
	// for the entry times is only needed once over the cap.
	if total, err := usage(dir); err != nil || total <= maxBytes {
		return nil, err
	}
	es, err := scan(dir)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, e := range es {
		total += e.bytes
	}
	var removed []string
	for _, e := range es {
		if total <= maxBytes {
			break
		}
		if e.meta.ID == keep {
			continue
		}
		err := remove(dir, filepath.Join(dir, e.meta.ID), e.meta.ID)
		if errors.Is(err, ErrNotFound) {
			err = nil // removed by hand meanwhile
		}
		if err != nil {
			return removed, err
		}
		removed = append(removed, e.meta.ID)
		total -= e.bytes
	}
	return removed, nil
}

// Purge removes the entries quarantined before the cut-off time, and the
// hidden leftovers of interrupted writes and removals last modified before
// it. It returns the ids of the entries removed, oldest first.
func Purge(dir string, before time.Time) ([]string, error) {
	unlock, err := lockDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		n := de.Name()
		if !de.IsDir() || !(strings.HasPrefix(n, tmpPrefix) || strings.HasPrefix(n, delPrefix)) {
			continue
		}
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(before) {
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return nil, err
			}
		}
	}
	es, err := scan(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range es {
		if !e.meta.Time.Before(before) {
			break
		}
		err := remove(dir, filepath.Join(dir, e.meta.ID), e.meta.ID)
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		if err != nil {
			return removed, err
		}
		removed = append(removed, e.meta.ID)
	}
	return removed, nil
}

// RecordRelease appends r to the released list of entry id. meta.json is
// replaced atomically: written beside it, fsynced, renamed over it, and the
// entry directory synced. It returns the updated metadata.
func RecordRelease(dir, id string, r Release) (Meta, error) {
	p, err := entryPath(dir, id)
	if err != nil {
		return Meta{}, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Meta{}, err
	}
	defer unlock()
	m, err := readMeta(p, id)
	if err != nil {
		return Meta{}, err
	}
	r.Time = r.Time.UTC()
	m.Released = append(m.Released, r)
	data, err := marshalMeta(m)
	if err != nil {
		return Meta{}, err
	}
	// Keep the entry's owner: root may be the one releasing, and simscan
	// must still read the file to enforce the size cap.
	uid, gid := -1, -1
	if fi, err := os.Stat(p); err == nil && os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp := filepath.Join(p, "."+MetaFile+".tmp")
	os.Remove(tmp) // left by an interrupted release
	if err := writeNew(tmp, data, uid, gid); err != nil {
		os.Remove(tmp)
		return Meta{}, err
	}
	if err := os.Rename(tmp, filepath.Join(p, MetaFile)); err != nil {
		os.Remove(tmp)
		return Meta{}, err
	}
	return m, syncDir(p)
}

// Envelope builds a qmail-queue envelope (qmail-queue(8): "F" sender NUL,
// "T" recipient NUL for each, then NUL) for handing a message on. An
// address holding a NUL or longer than qmail.MaxAddress, or an empty
// recipient list, gives ErrBadAddress.
func Envelope(from string, to []string) ([]byte, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrBadAddress)
	}
	b := make([]byte, 0, 64*len(to))
	for i, a := range append([]string{from}, to...) {
		if strings.IndexByte(a, 0) >= 0 || len(a) > qmail.MaxAddress {
			return nil, fmt.Errorf("%w: %q", ErrBadAddress, a)
		}
		if i == 0 {
			b = append(b, 'F')
		} else {
			b = append(b, 'T')
		}
		b = append(b, a...)
		b = append(b, 0)
	}
	return append(b, 0), nil
}
