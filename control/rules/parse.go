package rules

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/gosimscan/simscan/control/cdb"
)

// ErrInvalid is wrapped by Compile and Build when the rules have errors.
var ErrInvalid = errors.New("rules: simcontrol has errors")

// maxLine bounds a simcontrol line.
const maxLine = 1 << 20

// Severity tells an error, which stops simscanmk from building the rules,
// from a warning, which does not.
type Severity int

const (
	Warning Severity = iota // reported; the rules are still built
	Error                   // the rules are not built
)

// Problem is something wrong at one line of a simcontrol file.
type Problem struct {
	File     string
	Line     int
	Severity Severity
	Msg      string
}

// String formats the problem as "file:line: message", with "warning: "
// before the message of a warning.
func (p Problem) String() string {
	w := ""
	if p.Severity == Warning {
		w = "warning: "
	}
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s%s", p.File, w, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s%s", p.File, p.Line, w, p.Msg)
}

// HasErrors reports whether any of problems is an error.
func HasErrors(problems []Problem) bool {
	for _, p := range problems {
		if p.Severity == Error {
			return true
		}
	}
	return false
}

// Entry is one rule of a simcontrol file, as it is stored in
// simcontrol.cdb.
type Entry struct {
	Line    int
	Key     string // lower-cased address or domain; empty for the default
	Options string // the option string, lower-cased unless Key is empty
}

// Parse reads a simcontrol file and checks every entry; name is the file
// name used in problems. It returns the entries of every line that has a
// key and a colon, in file order, even those with errors in their options.
// The error is for failures to read.
func Parse(r io.Reader, name string) ([]Entry, []Problem, error) {
	var entries []Entry
	var problems []Problem
	seen := map[string]int{}
	var c checker
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		report := func(sev Severity, format string, args ...any) {
			problems = append(problems, Problem{File: name, Line: line, Severity: sev, Msg: fmt.Sprintf(format, args...)})
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		key, options, ok := strings.Cut(text, ":")
		if !ok {
			report(Error, "missing ':' between the address or domain and its options")
			continue
		}
		key = strings.TrimSpace(key)
		options = strings.TrimSpace(options)
		if i := strings.IndexAny(key, " \t#"); i >= 0 {
			report(Error, "address or domain %q contains %q", key, key[i])
			continue
		}
		e := Entry{Line: line, Key: lowerASCII(key), Options: options}
		if e.Key != "" {
			e.Options = lowerASCII(options)
		}
		if first, dup := seen[e.Key]; dup {
			what := fmt.Sprintf("%q", e.Key)
			if e.Key == "" {
				what = "the default"
			}
			report(Warning, "second entry for %s: only the first, at line %d, is used", what, first)
		} else {
			seen[e.Key] = line
		}
		for _, ch := range c.options(options, e.Key != "") {
			report(ch.sev, "%s", ch.msg)
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than %d bytes", line+1, maxLine)
		}
		return entries, problems, fmt.Errorf("%s: %w", name, err)
	}
	return entries, problems, nil
}

type check struct {
	sev Severity
	msg string
}

// checker checks option strings. It remembers what it found for each regex
// pattern, as big rule sets repeat the same few.
type checker struct {
	regexErr map[string]string
}

// options checks an option string as written (before lower-casing,
// which lowered says happens). It reads the string exactly as apply does,
// so what passes here is what simscan will see.
func (c *checker) options(options string, lowered bool) []check {
	var checks []check
	report := func(sev Severity, format string, args ...any) {
		checks = append(checks, check{sev, fmt.Sprintf(format, args...)})
	}
	if options == "" {
		return nil
	}
	if i := strings.IndexAny(options, `"'`); i >= 0 {
		report(Error, "quote %q in the options: simscan splits options at quotes, so values can not be quoted", options[i])
		return checks
	}
	if strings.ContainsAny(options, " \t") {
		report(Error, "white space in the options: simscan splits them at spaces and tabs too, so separate options with ',' and write a space in a regex as \\s or \\x20")
		return checks
	}
	t := tokenizer{s: options}
	seen := map[string]bool{}
	for {
		name, at, ok := t.next()
		if !ok {
			break
		}
		value, _, ok := t.next()
		if !ok {
			if name == "" {
				report(Warning, "separator %q at the end of the options", options[len(options)-1])
			} else {
				report(Error, "option %q has no value (want %s=value)", name, name)
			}
			break
		}
		if name == "" {
			report(Error, "stray separator %q before %q: options are name=value, separated by single commas", options[at], value)
			break
		}
		lname := strings.ToLower(name)
		if seen[lname] {
			report(Warning, "option %s is given twice: the last one is used", lname)
		}
		seen[lname] = true
		checks = append(checks, c.value(lname, value, lowered)...)
	}
	return checks
}

// value checks the value of one option, as written.
func (c *checker) value(name, value string, lowered bool) []check {
	var checks []check
	report := func(sev Severity, format string, args ...any) {
		checks = append(checks, check{sev, fmt.Sprintf(format, args...)})
	}
	stored := value
	if lowered {
		stored = lowerASCII(value)
	}
	warnLowered := func() {
		if stored != value {
			report(Warning, "%s value `%s` is stored lower-cased as `%s`, as simscanmk always did for addresses and domains", name, value, stored)
		}
	}
	switch name {
	case "clam", "spam", "trophie", "spam_passthru", "quarantine":
		if !strings.EqualFold(value, "yes") && !strings.EqualFold(value, "no") {
			report(Error, "%s=%s: want yes or no", name, value)
		}
	case "spam_hits":
		if value == "" || numberPrefix(value) != len(value) {
			report(Error, "spam_hits=%s: want a number such as 20.1", value)
		} else if f := atof(value); f < 0 {
			report(Warning, "spam_hits=%s is negative: every message is over it", value)
		}
	case "attach":
		for i, ext := range strings.Split(stored, ":") {
			switch {
			case ext == "":
				if value != "" {
					report(Warning, "attach: empty name %d in the list is ignored", i+1)
				}
			case ext[0] != '.':
				report(Warning, "attach: %q does not start with '.', so it blocks every file name that ends in it", ext)
			}
		}
	case "regex":
		warnLowered()
		for i, re := range strings.Split(stored, ":") {
			if re == "" {
				if value != "" {
					report(Warning, "regex: empty pattern %d in the list is ignored", i+1)
				}
				continue
			}
			if msg := c.regex(re); msg != "" {
				report(Error, "regex: pattern `%s` does not compile: %s", re, msg)
			}
		}
	case "qmailqueue":
		warnLowered()
		if value == "" {
			report(Error, "qmailqueue: empty path")
		} else if value[0] != '/' {
			report(Warning, "qmailqueue=%s is not an absolute path", value)
		}
	case "spamuser":
		warnLowered()
		if value == "" {
			report(Error, "spamuser: empty user name")
		}
	default:
		report(Warning, "unknown option %s: simscan ignores it", name)
	}
	return checks
}

// regex returns why pattern does not compile, or "".
func (c *checker) regex(pattern string) string {
	if msg, ok := c.regexErr[pattern]; ok {
		return msg
	}
	msg := ""
	if _, err := regexp.Compile(pattern); err != nil {
		msg = err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = string(se.Code)
			if se.Expr != pattern {
				msg += " at `" + se.Expr + "`"
			}
		}
	}
	if c.regexErr == nil {
		c.regexErr = map[string]string{}
	}
	c.regexErr[pattern] = msg
	return msg
}

// Compile reads a simcontrol file from r and, if it has no errors, writes
// its entries to w in file order, keyed and valued exactly as the C
// simscanmk stores them. It returns every problem found; if there are
// errors it writes nothing and returns an error wrapping ErrInvalid.
func Compile(r io.Reader, name string, w *cdb.Writer) ([]Problem, error) {
	entries, problems, err := Parse(r, name)
	if err != nil {
		return problems, err
	}
	if n := countErrors(problems); n > 0 {
		return problems, fmt.Errorf("%s: %d error%s: %w", name, n, plural(n), ErrInvalid)
	}
	for _, e := range entries {
		if err := w.Put([]byte(e.Key), []byte(e.Options)); err != nil {
			return problems, err
		}
	}
	return problems, nil
}

// Build compiles the simcontrol file src into the cdb file dst, replacing
// dst atomically (see cdb.WriteFileAtomic) with mode 0644, so simscan
// processes reading dst see the old rules or the new ones. If src has
// errors, dst is left as it was. A missing src gives an error wrapping
// fs.ErrNotExist.
func Build(src, dst string) ([]Problem, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var problems []Problem
	err = cdb.WriteFileAtomic(dst, 0o644, func(w *cdb.Writer) error {
		var err error
		problems, err = Compile(f, src, w)
		return err
	})
	return problems, err
}

// Check reads the simcontrol file at path and returns its problems. A
// missing file gives an error wrapping fs.ErrNotExist.
func Check(path string) ([]Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, problems, err := Parse(f, path)
	return problems, err
}

func countErrors(problems []Problem) int {
	n := 0
	for _, p := range problems {
		if p.Severity == Error {
			n++
		}
	}
	return n
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
