// Package mime splits a message into its parts in-process, the job ripmime
// does for the C simscan, and collects every attachment name an attacker
// could use to slip a blocked file past the attachment rules.
//
// Split walks the whole MIME tree (RFC 2045, RFC 2046): multipart inside
// multipart, message/rfc822 bodies parsed as messages of their own, inline
// and attachment parts alike, uuencoded blocks inside text parts, the
// attachments Outlook wraps in TNEF (winmail.dat), and with Options.Archives
// the member names of zip, tar and gzip files found by their content,
// recursively. Names come from the Content-Disposition filename and
// the Content-Type name parameters, with RFC 2047 encoded words and RFC 2231
// charsets and continuations decoded; when parsers could disagree on a name,
// every reading is kept. Normalize turns a name into the form rules match.
//
// The walk streams: a part's body is decoded and written out as it is read,
// and only a part that looks like an archive is held in memory (or re-read
// from its file in Options.Dir). Every resource a hostile message could
// exhaust is capped by Limits; hitting a cap returns a *LimitError together
// with everything found up to that point.
//
// From enmime (github.com/jhillyerd/enmime), the project's MIME library,
// only the mediatype package is used: mediatype.Parse, a tolerant front end
// to Go's mime.ParseMediaType, reads media types and their parameters.
// Header fields, RFC 2047 encoded words (Go's mime.WordDecoder, then a
// lenient reading of our own) and charsets (golang.org/x/text's
// htmlindex, plus UTF-7) are handled here: enmime's root package would
// link an HTML-to-text converter, a charset detector and an SMTP client
// into every simscan process, whose initialisation costs each delivery
// about half a millisecond. The tree walk itself is done here instead of
// with enmime.ReadParts: ReadParts keeps every decoded part in memory,
// reads message/rfc822 bodies as opaque data, and has no bound on nesting
// or part count, all of which a scanner facing hostile mail cannot accept.
package mime

import (
	"fmt"
	"io"
)

// Limits caps the work one message may cause. A zero or negative field
// means the default from DefaultLimits.
type Limits struct {
	MaxDepth          int   // MIME nesting depth (multipart, message/rfc822)
	MaxParts          int   // total MIME parts, uuencoded files included
	MaxArchiveDepth   int   // archive inside archive
	MaxArchiveMembers int   // members across all archives
	MaxDecodedBytes   int64 // total decoded bytes (parts + decompressed members)
	MaxRatio          int   // decompression ratio of any archive member or gzip stream
	MaxHeaderBytes    int   // size of one header block
}

// DefaultLimits returns the limits used for fields left zero.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:          20,
		MaxParts:          1000,
		MaxArchiveDepth:   4,
		MaxArchiveMembers: 10000,
		MaxDecodedBytes:   200 << 20,
		MaxRatio:          100,
		MaxHeaderBytes:    1 << 20,
	}
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxArchiveDepth <= 0 {
		l.MaxArchiveDepth = d.MaxArchiveDepth
	}
	if l.MaxArchiveMembers <= 0 {
		l.MaxArchiveMembers = d.MaxArchiveMembers
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = d.MaxDecodedBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// Options controls Split.
type Options struct {
	// Dir, if set, receives each part's decoded body under a generated name
	// (part-0001, part-0002, ...). A name from the message never becomes a
	// path. The directory must exist; files are created, never replaced.
	Dir string
	// Archives makes Split list the members of zip, tar and gzip (tar.gz,
	// tgz) content, and the name a gzip stream stores in its header,
	// recursively up to Limits.MaxArchiveDepth. Archives are recognised by
	// their first bytes; a part named like an archive is tried as well.
	Archives bool
	// Limits caps the work; zero fields take their defaults.
	Limits Limits
}

// Member is one entry of an archive.
type Member struct {
	RawName   string   // name as stored in the archive, path included
	Name      string   // Normalize(RawName)
	Encrypted bool     // zip encryption flag set: the content was not read
	Size      int64    // zip, gzip: bytes decompressed (0 when Encrypted); tar: size in its header
	Members   []Member // members of an archive inside this member
}

// Part is one MIME leaf, a MIME container that carries a name (with Size 0
// and no File), a file uuencoded inside a text part, or an attachment
// unwrapped from a TNEF stream.
type Part struct {
	File        string   // generated file name inside Options.Dir, "" if not written
	ContentType string   // media type, lower case, without parameters
	Size        int64    // decoded size
	RawNames    []string // candidate names as decoded, before normalisation
	Names       []string // normalised candidates, deduplicated
	Origin      string   // OriginMIME, OriginUuencode (a uuencoded block inside a text part) or OriginTNEF
	Members     []Member // archive members when Options.Archives
}

// Origins of a Part.
const (
	OriginMIME     = "mime"
	OriginUuencode = "uuencode"
	OriginTNEF     = "tnef"
)

// Result is what Split found.
type Result struct {
	Parts []Part
	// Problems notes malformed MIME that was scanned as far as it goes: a
	// missing closing boundary, bad base64, a header block without the blank
	// line after it, ... At most maxProblems are kept.
	Problems []string
}

// Name is one normalised name from a part or an archive member.
type Name struct {
	Name      string
	Encrypted bool // the name belongs to an encrypted zip member
	Part      int  // index into Result.Parts
}

// Names returns every normalised name found: part names, uuencoded file
// names and archive members at any depth, in message order, without empty
// names and without exact repeats.
func (r *Result) Names() []Name {
	var out []Name
	seen := make(map[Name]bool)
	add := func(n Name) {
		if n.Name == "" || seen[n] {
			return
		}
		seen[n] = true
		out = append(out, n)
	}
	var members func(ms []Member, part int)
	members = func(ms []Member, part int) {
		for _, m := range ms {
			add(Name{Name: m.Name, Encrypted: m.Encrypted, Part: part})
			members(m.Members, part)
		}
	}
	for i, p := range r.Parts {
		for _, n := range p.Names {
			add(Name{Name: n, Part: i})
		}
		members(p.Members, i)
	}
	return out
}

// LimitError reports that a message exceeded one of the Limits.
type LimitError struct {
	Limit string // what was limited, e.g. "part count"
	Max   int64  // the limit in force
	Seen  int64  // the value that exceeded it
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("mime: %s limit %d exceeded", e.Limit, e.Max)
}

// Names of the limits as LimitError.Limit reports them.
const (
	LimitDepth          = "nesting depth"
	LimitParts          = "part count"
	LimitArchiveDepth   = "archive depth"
	LimitArchiveMembers = "archive member count"
	LimitDecodedBytes   = "decoded bytes"
	LimitRatio          = "compression ratio"
	LimitHeaderBytes    = "header size"
)

// Split reads one message from r and returns its parts and names. A limit
// being hit ends the walk: Split then returns the Result so far together
// with a *LimitError. Any other error comes from reading r or writing to
// Options.Dir, and also comes with the Result so far.
func Split(r io.Reader, opt Options) (*Result, error) {
	w := newWalker(opt)
	err := w.message(r)
	return w.res, err
}
