// Package quarantine keeps copies of refused messages so an admin can read
// them safely and release them to their recipients.
//
// A quarantine is a directory (quarantine_dir in simscan.conf) holding one
// entry per message:
//
//	<dir>/<id>/message    the message exactly as simscan received it
//	<dir>/<id>/meta.json  a Meta: id, time, class, detail, envelope, ...
//
// An entry is written under the hidden name .tmp-<id>, fsynced file by file
// and as a directory, and renamed into place, then the quarantine directory
// itself is synced (the pattern of mox's moxio/syncdir.go). A reader
// therefore sees a complete entry or none. Removal works the other way round:
// the entry is renamed to .del-<id> first, then removed. Names beginning with
// a dot are never entries.
//
// Files are 0640 and directories 0750. simscan runs as the simscan user, so
// what it stores belongs to that user; when root (simscanctl) rewrites
// meta.json, the new file is given the owner of its entry directory, so
// simscan can still read it when it enforces the size cap.
//
// Ids come from the command line and are untrusted: every function that
// turns an id into a path checks it with ValidID first.
//
// simscan calls Keep for each verdict; simscanctl quarantine uses List, Get,
// Open, View, Delete, Purge, and for a release Envelope (the qmail-queue(8)
// envelope format) and RecordRelease. View reads MIME as RFC 2045 and 2046
// describe it, leniently, and prints nothing a terminal would act on.
package quarantine

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/scanner"
)

// The names inside an entry.
const (
	MessageFile = "message"
	MetaFile    = "meta.json"
)

// Prefixes of the hidden names used while an entry is written or removed.
const (
	tmpPrefix = ".tmp-"
	delPrefix = ".del-"
)

// Permissions of what the quarantine creates.
const (
	filePerm = 0o640
	dirPerm  = 0o750
)

// maxIDLen bounds the length of an id.
const maxIDLen = 128

// The errors callers may test for with errors.Is.
var (
	ErrBadID      = errors.New("not a valid quarantine id")
	ErrNotFound   = errors.New("no such quarantine entry")
	ErrBadAddress = errors.New("address cannot be put in an envelope")
	ErrShortCopy  = errors.New("message changed size while being copied")
)

// Meta describes one quarantined message. It is stored as meta.json.
type Meta struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`             // when it was quarantined, UTC
	Class    string    `json:"class"`            // virus, spam, attach, regex or limit
	Detail   string    `json:"detail,omitempty"` // virus name, spam scores, attachment or filter
	From     string    `json:"from"`             // envelope sender, empty for <>
	To       []string  `json:"to"`               // envelope recipients, in order
	RemoteIP string    `json:"remote_ip,omitempty"`
	Size     int64     `json:"size"`    // bytes in the message file
	Version  string    `json:"version"` // simscan's version
	Released []Release `json:"released,omitempty"`
}

// Release records one hand-over of the message to qmail-queue.
type Release struct {
	Time time.Time `json:"time"`
	To   []string  `json:"to"`           // the recipients it went to
	By   string    `json:"by,omitempty"` // the user who released it, if known
}

// ValidID reports whether id can name an entry: 1 to 128 characters from
// A-Z, a-z, 0-9, '.', '_' and '-', not beginning with '.' or '-'. So an id
// is never a path with a separator, never "." or "..", never a hidden work
// name and never looks like a command-line flag.
func ValidID(id string) bool {
	if id == "" || len(id) > maxIDLen || id[0] == '.' || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Wanted reports whether a message with verdict v is to be quarantined.
// Only refused or dropped messages are kept (a temporary failure would be
// stored again at every retry), and only with a class. quarantine_dir must
// be set; then a per-address rule (quarantine=yes|no, override non-nil)
// decides, and without one quarantine_classes does.
func Wanted(cfg *control.Config, override *bool, v scanner.Verdict) bool {
	if cfg.QuarantineDir == "" || (v.Action != scanner.Reject && v.Action != scanner.Drop) {
		return false
	}
	known := false
	for _, c := range control.QuarantineClasses {
		if c == v.Class {
			known = true
		}
	}
	if !known {
		return false
	}
	if override != nil {
		return *override
	}
	return cfg.Quarantines(v.Class)
}

// MetaFor is the metadata of a message about to be stored: the verdict's
// class and detail (for spam, which has no detail, the log state with its
// scores), the envelope and remote IP, simscan's version and the time.
func MetaFor(m *scanner.Message, v scanner.Verdict, version string, now time.Time) Meta {
	detail := v.Detail
	if detail == "" {
		detail = v.State
	}
	return Meta{
		Time:     now.UTC(),
		Class:    v.Class,
		Detail:   detail,
		From:     m.From,
		To:       append([]string(nil), m.To...),
		RemoteIP: m.RemoteIP,
		Version:  version,
	}
}

// Keep is simscan's quarantine step for a message with verdict v: when
// Wanted, it stores the message with MetaFor's metadata, then enforces
// quarantine_max_mb, sparing the new entry. It returns the new id, or ""
// when the message is not to be kept. The error is a failure to store, on
// which simscan must answer with a temporary failure (FailedVerdict) so
// nothing is lost; a failure to enforce the cap only goes to logf, since
// the message itself is safe.
func Keep(cfg *control.Config, override *bool, m *scanner.Message, v scanner.Verdict, version string, now time.Time, logf func(format string, args ...any)) (string, error) {
	if !Wanted(cfg, override, v) {
		return "", nil
	}
	id, err := Store(cfg.QuarantineDir, m.File, MetaFor(m, v, version, now))
	if err != nil {
		return "", err
	}
	if cfg.QuarantineMaxMB > 0 {
		limit := int64(math.MaxInt64)
		if cfg.QuarantineMaxMB <= math.MaxInt64>>20 {
			limit = cfg.QuarantineMaxMB << 20
		}
		if _, err := Trim(cfg.QuarantineDir, limit, id); err != nil {
			logf("quarantine: size cap: %v", err)
		}
	}
	return id, nil
}

// FailedVerdict replaces verdict v when its message could not be
// quarantined: a temporary failure, so the sender keeps the message and
// retries, instead of the refusal or drop that would lose it. The log
// detail names the original verdict and the cause; the sender gets no text,
// hence qmail-queue's plain exit 71.
func FailedVerdict(v scanner.Verdict, err error) scanner.Verdict {
	what := v.State
	if v.Detail != "" {
		what += " " + v.Detail
	}
	return scanner.Verdict{Action: scanner.TempFail, State: "TEMPFAIL", Detail: fmt.Sprintf("quarantine of %s: %v", what, err)}
}
