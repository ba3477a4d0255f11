package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/gosimscan/simscan/control/cdb"
	"github.com/gosimscan/simscan/control/rules"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // errors in the rules, or a file could not be built
	exitUsage = 2
)

// The files in the control directory.
const (
	rulesFile    = "simcontrol"
	rulesCDB     = "simcontrol.cdb"
	versionsFile = "simversions.cdb"
)

// tool holds everything simscanmk takes from its surroundings.
type tool struct {
	controlDir string // the built-in control directory
	getenv     func(string) string
	versions   func(dir string) (map[string]string, error)
	checks     []func(dir string) []rules.Problem

	stdout, stderr io.Writer
	dir            string // the control directory in use
}

// warnf prints a message on stderr in the program's style.
func (t *tool) warnf(format string, args ...any) {
	fmt.Fprintf(t.stderr, "simscanmk: "+format+"\n", args...)
}

const usage = `usage: simscanmk [-c | -d | -g | -q SENDER [RECIPIENT...]]
  (no option)  build DIR/simcontrol.cdb from DIR/simcontrol
  -c           check DIR/simcontrol and report every problem; change nothing
  -d           print the rules compiled into DIR/simcontrol.cdb
  -g           build DIR/simversions.cdb from the scanners' versions
  -q           show the policy for an envelope, option by option, and which
               entry set it; "" is the null sender
DIR is $SIMSCAN_CONTROLDIR or %s
`

// run is simscanmk; it returns the exit status.
func run(args []string, stdout, stderr io.Writer, t *tool) int {
	t.stdout, t.stderr = stdout, stderr
	t.dir = t.controlDir
	if d := t.getenv("SIMSCAN_CONTROLDIR"); d != "" {
		t.dir = d
	}

	fl := flag.NewFlagSet("simscanmk", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	check := fl.Bool("c", false, "")
	dump := fl.Bool("d", false, "")
	versions := fl.Bool("g", false, "")
	query := fl.Bool("q", false, "")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usage, t.controlDir)
			return exitOK
		}
		t.warnf("%v", err)
		fmt.Fprintf(stderr, usage, t.controlDir)
		return exitUsage
	}
	modes := 0
	for _, m := range []bool{*check, *dump, *versions, *query} {
		if m {
			modes++
		}
	}
	switch {
	case modes > 1:
		t.warnf("-c, -d, -g and -q do not go together")
		fmt.Fprintf(stderr, usage, t.controlDir)
		return exitUsage
	case *query && fl.NArg() == 0:
		t.warnf("-q needs the envelope sender (\"\" for the null sender) and recipients")
		fmt.Fprintf(stderr, usage, t.controlDir)
		return exitUsage
	case !*query && fl.NArg() > 0:
		t.warnf("unexpected argument %q", fl.Arg(0))
		fmt.Fprintf(stderr, usage, t.controlDir)
		return exitUsage
	}

	switch {
	case *check:
		return t.check()
	case *dump:
		return t.dump()
	case *versions:
		return t.buildVersions()
	case *query:
		return t.query(fl.Arg(0), fl.Args()[1:])
	}
	return t.build()
}

func (t *tool) path(name string) string {
	return filepath.Join(t.dir, name)
}

// report prints problems on stderr and counts the errors.
func (t *tool) report(problems []rules.Problem) (errs, warnings int) {
	for _, p := range problems {
		t.warnf("%s", p)
		if p.Severity == rules.Error {
			errs++
		} else {
			warnings++
		}
	}
	return errs, warnings
}

// build compiles simcontrol into simcontrol.cdb.
func (t *tool) build() int {
	src, dst := t.path(rulesFile), t.path(rulesCDB)
	problems, err := rules.Build(src, dst)
	errs, _ := t.report(problems)
	switch {
	case errors.Is(err, fs.ErrNotExist) && problems == nil:
		t.warnf("no %s: not building %s", src, rulesCDB)
		return exitFail
	case errors.Is(err, rules.ErrInvalid):
		t.warnf("%d error%s in %s: %s left as it was", errs, plural(errs), src, dst)
		return exitFail
	case err != nil:
		t.warnf("%v: %s left as it was", err, dst)
		return exitFail
	}
	fmt.Fprintf(t.stdout, "built %s from %s\n", dst, src)
	return exitOK
}

// check reports every problem in simcontrol and the extra checks.
func (t *tool) check() int {
	src := t.path(rulesFile)
	problems, err := rules.Check(src)
	status := exitOK
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(t.stdout, "no %s: no per-domain rules, global mode applies\n", src)
	case err != nil:
		t.warnf("%v", err)
		status = exitFail
	}
	errs, warnings := t.report(problems)
	if err == nil {
		fmt.Fprintf(t.stdout, "%s: %d error%s, %d warning%s\n", src, errs, plural(errs), warnings, plural(warnings))
	}
	extraErrs, extraWarnings := 0, 0
	for _, c := range t.checks {
		e, w := t.report(c(t.dir))
		extraErrs += e
		extraWarnings += w
	}
	if len(t.checks) > 0 {
		fmt.Fprintf(t.stdout, "%s and the rules against it: %d error%s, %d warning%s\n", t.path("simscan.conf"), extraErrs, plural(extraErrs), extraWarnings, plural(extraWarnings))
	}
	errs += extraErrs
	if errs > 0 {
		status = exitFail
	}
	return status
}

// openRules opens simcontrol.cdb, saying so if it is missing, and notes
// when simcontrol has changed since it was built.
func (t *tool) openRules() (*rules.Set, int) {
	dst := t.path(rulesCDB)
	set, err := rules.Open(dst)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(t.stdout, "no %s: no per-domain rules, global mode applies\n", dst)
		return nil, exitOK
	}
	if err != nil {
		t.warnf("%v", err)
		return nil, exitFail
	}
	src, errSrc := os.Stat(t.path(rulesFile))
	built, errDst := os.Stat(dst)
	if errSrc == nil && errDst == nil && src.ModTime().After(built.ModTime()) {
		t.warnf("%s is newer than %s: run simscanmk to rebuild it", t.path(rulesFile), dst)
	}
	return set, exitOK
}

// query prints the policy for an envelope and where each option came from.
func (t *tool) query(from string, rcpts []string) int {
	set, status := t.openRules()
	if set == nil {
		return status
	}
	defer set.Close()
	p, err := set.Lookup(from, rcpts)
	if err != nil {
		t.warnf("%v", err)
		return exitFail
	}
	w := tabwriter.NewWriter(t.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "sender\t<%s>\n", from)
	for _, r := range rcpts {
		fmt.Fprintf(w, "recipient\t<%s>\n", r)
	}
	matched := strings.Join(p.Matched, ", ")
	if matched == "" {
		matched = "none"
	}
	fmt.Fprintln(w, "entries found\t"+matched)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "option\tvalue\tset by")
	for _, s := range p.Settings() {
		if s.Set {
			fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, showValue(s.Value), s.Source)
		} else {
			fmt.Fprintf(w, "%s\t-\tnot set\n", s.Name)
		}
	}
	if err := w.Flush(); err != nil {
		return exitFail
	}
	return exitOK
}

// dump prints every record of simcontrol.cdb as a simcontrol line.
func (t *tool) dump() int {
	set, status := t.openRules()
	if set == nil {
		return status
	}
	set.Close()
	r, err := cdb.Open(t.path(rulesCDB))
	if err != nil {
		t.warnf("%v", err)
		return exitFail
	}
	defer r.Close()
	for rec, err := range r.All() {
		if err != nil {
			t.warnf("%s: %v", t.path(rulesCDB), err)
			return exitFail
		}
		fmt.Fprintf(t.stdout, "%s:%s\n", rec.Key, rec.Value)
	}
	return exitOK
}

// buildVersions writes simversions.cdb.
func (t *tool) buildVersions() int {
	dst := t.path(versionsFile)
	v, err := t.versions(t.dir)
	if err != nil {
		t.warnf("finding the scanners' versions: %v: %s left as it was", err, dst)
		return exitFail
	}
	if err := rules.WriteVersions(dst, v); err != nil {
		t.warnf("%v: %s left as it was", err, dst)
		return exitFail
	}
	r, err := cdb.Open(dst)
	if err != nil {
		t.warnf("%v", err)
		return exitFail
	}
	defer r.Close()
	fmt.Fprintf(t.stdout, "built %s\n", dst)
	for rec, err := range r.All() {
		if err != nil {
			t.warnf("%s: %v", dst, err)
			return exitFail
		}
		fmt.Fprintf(t.stdout, "%s: %s\n", rec.Key, rec.Value)
	}
	return exitOK
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// showValue shows an empty value (an empty list, say) as "".
func showValue(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
