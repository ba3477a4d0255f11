// Package rules reads and compiles simscan's per-domain rules: the
// control/simcontrol text file and the simcontrol.cdb that simscanmk builds
// from it, as described in simscan's README ("Enable Per Domain
// processing").
//
// # The simcontrol file
//
// One entry per line: an address, a domain or nothing (the default for the
// whole machine), a colon, then options separated by commas:
//
//	postmaster@example.com:clam=yes,spam=no,attach=.txt:.com
//	example.com:clam=no,spam=yes,attach=.mp3
//	:clam=yes,spam=yes,trophie=yes,spam_hits=20.1
//
// The line is split at its first colon. Blank lines and lines starting with
// '#' are ignored, and surrounding white space is trimmed. Keys are stored
// lower-cased. As the C simscanmk does, the option string of an address or
// domain entry is stored lower-cased too, while that of the default entry is
// stored as written; a simcontrol.cdb built by the C simscanmk therefore
// reads exactly like one built by [Compile].
//
// # Options
//
//	clam=yes|no           scan with ClamAV
//	spam=yes|no           scan with SpamAssassin
//	spam_hits=NUMBER      reject spam scoring at least this (e.g. 20.1)
//	spam_passthru=yes|no  deliver spam instead of rejecting it
//	spamuser=NAME         the user spamc asks spamd to score for
//	trophie=yes|no        scan with Trophie
//	attach=.EXT:.EXT      attachment names (by ending) to block
//	regex=RE:RE           patterns; a message with a line matching one is blocked
//	qmailqueue=PATH       the program the message is handed to afterwards
//	quarantine=yes|no     quarantine what is rejected (not in the C simscan)
//
// simscan reads an option string by splitting it at every one of the
// characters space, tab, '=', ',', double quote and apostrophe, and taking
// the pieces as name, value, name, value. This package reads it the same
// way, so a value can contain none of those characters, and lists (attach,
// regex) are split at every ':'. A regex that needs one of them must use an
// escape: \x3a for ':', \x2c for ',', \x3d for '=', \s or \x20 for a space,
// \x22 and \x27 for the quotes. [Parse] reports as errors the option strings
// this splitting would misread: quotes, white space (simscan would read
// "clam=yes spam=no" as two options, but a space in a value splits it) and
// doubled separators. Patterns are RE2 syntax (Go's regexp), checked when
// the file is compiled.
//
// Because option strings other than the default's are stored lower-cased,
// regex patterns, paths and user names in them are lower-cased too (so \S
// becomes \s); [Parse] warns when that changes a value.
//
// # Lookup
//
// For a message, [Set.Lookup] starts from the default entry, then looks up
// the sender and then each recipient in envelope order. For each address it
// looks up the domain, then every qmail extension prefix of the address:
// test-list-owner@test.ch looks up test.ch, test@test.ch,
// test-list@test.ch and test-list-owner@test.ch. Every entry found
// overrides the options it sets, option by option, so an address beats its
// domain and the default, and among several recipients the last one with a
// matching entry wins. Addresses are looked up lower-cased. [Policy]
// records for each option which entry set it.
//
// Where simscan's C code does something that looks unintended, this package
// differs, on purpose:
//   - a regex list replaces the one an earlier entry set, as attach lists
//     do; the C code appends regex lists across entries;
//   - empty elements of attach and regex lists are dropped; the C code
//     treats an empty attachment name as matching every file;
//   - an address with an empty domain ("user@") has no domain lookup; the C
//     code looks up the empty key, applying the default again;
//   - an address without '@' is looked up as written as well as with '@'
//     appended, the only form the C code tries ("postmaster@"); the null
//     sender is looked up as "@", as in the C code;
//   - comment lines are skipped; the C simscanmk stores them as entries
//     keyed by their first word.
package rules

import (
	"math"
	"strconv"
	"strings"
)

// DefaultSource is the Source of an option set by the default entry, the
// one with the empty key.
const DefaultSource = "default"

// Opt is one option of a Policy: its value, whether any entry set it, and
// which one (an address, a domain or DefaultSource).
type Opt[T any] struct {
	Value  T
	Set    bool
	Source string
}

// Policy is the effective set of options for one message. An option no
// entry set has Set false, and what that means is the caller's choice: in
// simscan's C code an unset clam, spam, trophie or spam_passthru is off
// ("without any matches, no scans will be done"), and unset values such as
// spam_hits and qmailqueue fall back to the compiled-in settings.
type Policy struct {
	Clam, Spam, Trophie, SpamPassthru, Quarantine Opt[bool]
	SpamHits                                      Opt[float64]
	Attach, Regex                                 Opt[[]string]
	QmailQueue, SpamUser                          Opt[string]

	// Matched lists the keys of the entries found, in the order they were
	// applied, DefaultSource for the default entry.
	Matched []string
}

// Setting is one option of a Policy in printable form.
type Setting struct {
	Name   string // as written in simcontrol
	Value  string // as written in simcontrol; empty if not set
	Set    bool
	Source string
}

// Settings returns every option, set or not, in a fixed order, for showing
// where each value came from.
func (p *Policy) Settings() []Setting {
	return []Setting{
		boolSetting("clam", p.Clam),
		boolSetting("spam", p.Spam),
		{Name: "spam_hits", Value: formatHits(p.SpamHits), Set: p.SpamHits.Set, Source: p.SpamHits.Source},
		boolSetting("spam_passthru", p.SpamPassthru),
		stringSetting("spamuser", p.SpamUser),
		boolSetting("trophie", p.Trophie),
		listSetting("attach", p.Attach),
		listSetting("regex", p.Regex),
		stringSetting("qmailqueue", p.QmailQueue),
		boolSetting("quarantine", p.Quarantine),
	}
}

// String renders the options that are set as a simcontrol option string.
func (p *Policy) String() string {
	var b strings.Builder
	for _, s := range p.Settings() {
		if !s.Set {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.Name)
		b.WriteByte('=')
		b.WriteString(s.Value)
	}
	return b.String()
}

func boolSetting(name string, o Opt[bool]) Setting {
	s := Setting{Name: name, Set: o.Set, Source: o.Source}
	if o.Set {
		s.Value = "no"
		if o.Value {
			s.Value = "yes"
		}
	}
	return s
}

func stringSetting(name string, o Opt[string]) Setting {
	return Setting{Name: name, Value: o.Value, Set: o.Set, Source: o.Source}
}

func listSetting(name string, o Opt[[]string]) Setting {
	return Setting{Name: name, Value: strings.Join(o.Value, ":"), Set: o.Set, Source: o.Source}
}

func formatHits(o Opt[float64]) string {
	if !o.Set {
		return ""
	}
	return strconv.FormatFloat(o.Value, 'f', -1, 64)
}

// separators are where simscan's C parser (strsep in per_domain_lookup)
// splits an option string; the pieces are name, value, name, value.
const separators = " =\t\n\r,\"'"

// tokenizer splits an option string the way strsep(3) does: consecutive
// separators give empty pieces.
type tokenizer struct {
	s    string
	pos  int
	done bool
}

// next returns the next piece and its byte offset in the string.
func (t *tokenizer) next() (piece string, at int, ok bool) {
	if t.done {
		return "", 0, false
	}
	at = t.pos
	i := strings.IndexAny(t.s[at:], separators)
	if i < 0 {
		t.done = true
		return t.s[at:], at, true
	}
	t.pos = at + i + 1
	return t.s[at : at+i], at, true
}

// apply sets the options of one entry's option string on p, reading it as
// simscan does: names are case-insensitive, a yes/no option with another
// value is left as it was, spam_hits takes the number at the start of its
// value (0 if there is none), unknown options are ignored. Unlike simscan,
// a list option replaces the list set by an earlier entry (simscan's C code
// replaces attach lists but appends regex lists) and empty list elements
// are dropped (simscan treats an empty attachment name as matching every
// file).
func apply(p *Policy, source, options string) {
	t := tokenizer{s: options}
	for {
		name, _, ok := t.next()
		if !ok {
			return
		}
		value, _, ok := t.next()
		if !ok {
			return
		}
		switch strings.ToLower(name) {
		case "clam":
			setBool(&p.Clam, source, value)
		case "spam":
			setBool(&p.Spam, source, value)
		case "trophie":
			setBool(&p.Trophie, source, value)
		case "spam_passthru":
			setBool(&p.SpamPassthru, source, value)
		case "quarantine":
			setBool(&p.Quarantine, source, value)
		case "spam_hits":
			p.SpamHits = Opt[float64]{Value: atof(value), Set: true, Source: source}
		case "attach":
			p.Attach = Opt[[]string]{Value: splitList(value), Set: true, Source: source}
		case "regex":
			p.Regex = Opt[[]string]{Value: splitList(value), Set: true, Source: source}
		case "qmailqueue":
			p.QmailQueue = Opt[string]{Value: value, Set: true, Source: source}
		case "spamuser":
			p.SpamUser = Opt[string]{Value: value, Set: true, Source: source}
		}
	}
}

func setBool(o *Opt[bool], source, value string) {
	switch {
	case strings.EqualFold(value, "yes"):
		*o = Opt[bool]{Value: true, Set: true, Source: source}
	case strings.EqualFold(value, "no"):
		*o = Opt[bool]{Value: false, Set: true, Source: source}
	}
}

// splitList splits a ':'-separated list, dropping empty elements. The
// result is never nil, so "attach=" reads as an empty, set list.
func splitList(s string) []string {
	list := make([]string, 0, strings.Count(s, ":")+1)
	for e := range strings.SplitSeq(s, ":") {
		if e != "" {
			list = append(list, e)
		}
	}
	return list
}

// atof reads the number at the start of s as C's atof(3) does for decimal
// numbers and the words inf, infinity and nan: "20.1" and "20.1x" are 20.1,
// "x" is 0. Hexadecimal numbers read as 0.
func atof(s string) float64 {
	n := numberPrefix(s)
	if n == 0 {
		rest := s
		sign := 1.0
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			if rest[0] == '-' {
				sign = -1
			}
			rest = rest[1:]
		}
		switch {
		case hasPrefixFold(rest, "inf"):
			return math.Inf(int(sign))
		case hasPrefixFold(rest, "nan"):
			return math.NaN()
		}
		return 0
	}
	// A prefix numberPrefix accepts always parses; out of range it is ±Inf
	// or 0, as with strtod.
	f, _ := strconv.ParseFloat(s[:n], 64)
	return f
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// numberPrefix returns the length of the decimal floating-point number at
// the start of s: [+-] digits [. digits] [e [+-] digits], with at least one
// digit in the mantissa, or 0.
func numberPrefix(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
			digits++
		}
		if digits > 0 {
			i = j
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// lowerASCII lower-cases A-Z only, as C's tolower in the C locale does
// for simscan and simscanmk.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
