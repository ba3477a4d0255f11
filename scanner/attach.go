package scanner

import (
	"bufio"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/gosimscan/simscan/mime"
)

// AttachCheck blocks attachments by name: every normalised name in the
// message (MIME parts, uuencoded files, archive members) is compared with
// the banned extensions, as a case-insensitive suffix.
type AttachCheck struct {
	Exts      []string // lower-cased, e.g. ".exe"
	Options   mime.Options
	Encrypted bool // refuse encrypted archive members that cannot be inspected

	// Result is what the split found, for tools that show it.
	Result *mime.Result
}

// Name implements Check.
func (c *AttachCheck) Name() string { return "attach" }

// Check implements Check.
func (c *AttachCheck) Check(ctx context.Context, m *Message) (Finding, error) {
	res, err := mime.Split(io.NewSectionReader(m.File, 0, m.Size), c.Options)
	c.Result = res
	var lim *mime.LimitError
	if err != nil && !errors.As(err, &lim) {
		return Finding{}, err
	}
	if res != nil {
		for _, n := range res.Names() {
			if ext := BannedSuffix(n.Name, c.Exts); ext != "" {
				return Finding{Kind: Attachment, Scanner: c.Name(), Name: n.Name}, nil
			}
		}
		if c.Encrypted {
			for _, n := range res.Names() {
				if n.Encrypted {
					return Finding{Kind: Encrypted, Scanner: c.Name(), Name: n.Name}, nil
				}
			}
		}
	}
	if lim != nil {
		return Finding{Kind: Limit, Scanner: c.Name(), Name: lim.Error()}, nil
	}
	return Finding{Kind: Clean, Scanner: c.Name()}, nil
}

// BannedSuffix returns the first extension that name ends with, or "".
// name must already be normalised (lower-case); exts are lower-cased here.
func BannedSuffix(name string, exts []string) string {
	for _, e := range exts {
		e = strings.ToLower(strings.TrimSpace(e))
		if e != "" && strings.HasSuffix(name, e) {
			return e
		}
	}
	return ""
}

// RegexCheck refuses a message with a line that matches one of the rules'
// patterns, as simscan does: every line of the raw message, headers
// included, is tried against every pattern. Matching ignores case, because
// simscanmk stores the patterns of address and domain entries lower-cased.
type RegexCheck struct {
	Patterns []string
	Logf     func(format string, args ...any)
}

// maxRegexLine bounds how much of one line is matched; longer lines are
// matched in pieces of this size.
const maxRegexLine = 64 << 10

// Name implements Check.
func (c *RegexCheck) Name() string { return "regex" }

// Check implements Check. A pattern that does not compile is skipped with a
// log line (simscanmk -c reports it before it gets here).
func (c *RegexCheck) Check(ctx context.Context, m *Message) (Finding, error) {
	type pat struct {
		n  int
		re *regexp.Regexp
	}
	var pats []pat
	for i, p := range c.Patterns {
		re, err := regexp.Compile("(?i)" + p)
		if err != nil {
			if c.Logf != nil {
				c.Logf("regex #%d %q skipped: %v", i+1, p, err)
			}
			continue
		}
		pats = append(pats, pat{i + 1, re})
	}
	if len(pats) == 0 {
		return Finding{Kind: Clean, Scanner: c.Name()}, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(m.File, 0, m.Size), maxRegexLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = trimEOL(line)
			for _, p := range pats {
				if p.re.Match(line) {
					return Finding{Kind: Regex, Scanner: c.Name(), Name: strconv.Itoa(p.n)}, nil
				}
			}
		}
		if err == io.EOF {
			return Finding{Kind: Clean, Scanner: c.Name()}, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return Finding{}, err
		}
		if ctx.Err() != nil {
			return Finding{}, ctx.Err()
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
