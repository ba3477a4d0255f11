package rules

import (
	"fmt"
	"strings"

	"github.com/gosimscan/simscan/control/cdb"
)

// Limits on the work one address can cause. simscan's C code truncates
// addresses to 499 bytes and looks up at most 255 extension prefixes.
const (
	// maxPrefixes bounds the extension prefixes looked up per address; the
	// whole address is always looked up.
	maxPrefixes = 255
	// maxPrefixAddress is the longest address whose extension prefixes
	// are looked up; a longer one is looked up by its domain and whole.
	maxPrefixAddress = 1024
)

// Set is an open simcontrol.cdb. It is cheap to open, and safe for
// concurrent lookups until Close.
type Set struct {
	r    *cdb.Reader
	path string
}

// Open opens a compiled simcontrol.cdb. If the file does not exist the
// error wraps fs.ErrNotExist: simscan then runs in global mode, without
// per-domain rules.
func Open(path string) (*Set, error) {
	r, err := cdb.Open(path)
	if err != nil {
		return nil, err
	}
	return &Set{r: r, path: path}, nil
}

// NewSet returns a Set that reads rules from an open cdb Reader; Close
// closes the Reader.
func NewSet(r *cdb.Reader) *Set {
	return &Set{r: r, path: "simcontrol.cdb"}
}

// Close releases the file.
func (s *Set) Close() error {
	return s.r.Close()
}

// Lookup returns the effective policy for a message from the envelope
// sender from (empty for the null sender) to the recipients rcpts, as
// described in the package documentation. An error means the file is
// corrupt; the Policy then holds what was found before it.
//
// Addresses without '@' are looked up as they are and, as simscan's C code
// forms their keys, with '@' appended: the null sender is looked up as "@".
// An address whose domain is empty has no domain lookup.
func (s *Set) Lookup(from string, rcpts []string) (Policy, error) {
	var p Policy
	l := lookup{set: s, p: &p}
	l.key = l.buf[:0]
	l.find(nil)
	l.address(from)
	for _, r := range rcpts {
		l.address(r)
	}
	if l.err != nil {
		return p, fmt.Errorf("%s: %w", s.path, l.err)
	}
	return p, nil
}

// lookup is the state of one Set.Lookup.
type lookup struct {
	set *Set
	p   *Policy
	err error
	key []byte
	buf [256]byte
}

// find applies the entry for key, if there is one.
func (l *lookup) find(key []byte) {
	if l.err != nil {
		return
	}
	v, ok, err := l.set.r.Get(key)
	if err != nil {
		l.err = err
		return
	}
	if !ok {
		return
	}
	source := DefaultSource
	if len(key) > 0 {
		source = string(key)
	}
	l.p.Matched = append(l.p.Matched, source)
	apply(l.p, source, string(v))
}

// address looks up one envelope address: its domain, then each extension
// prefix of its local part.
func (l *lookup) address(addr string) {
	addr = lowerASCII(addr)
	local, domain, hasAt := strings.Cut(addr, "@")
	if hasAt && domain != "" {
		l.key = append(l.key[:0], domain...)
		l.find(l.key)
	}
	n := 0
	for i := 0; ; {
		j := strings.IndexByte(local[i:], '-')
		last := j < 0 || n == maxPrefixes-1 || len(addr) > maxPrefixAddress
		end := len(local)
		if !last {
			end = i + j
		}
		prefix := local[:end]
		if hasAt {
			l.key = append(append(append(l.key[:0], prefix...), '@'), domain...)
			l.find(l.key)
		} else {
			if prefix != "" {
				l.key = append(l.key[:0], prefix...)
				l.find(l.key)
			}
			l.key = append(append(l.key[:0], prefix...), '@')
			l.find(l.key)
		}
		if last {
			return
		}
		n++
		i = end + 1
	}
}
