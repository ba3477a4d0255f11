package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/qmail"
	"github.com/gosimscan/simscan/quarantine"
)

func init() {
	commands["quarantine"] = command{
		summary: "list, show, release, delete or purge quarantined messages",
		run:     runQuarantine,
	}
}

const quarantineUsage = `usage: simscanctl quarantine list [--class CLASS] [--from ADDR] [--rcpt ADDR] [--since DURATION|TIME] [--json]
       simscanctl quarantine show [--raw | --json] ID
       simscanctl quarantine release [--to ADDR]... [--force] ID
       simscanctl quarantine delete ID...
       simscanctl quarantine purge --older-than DURATION
ADDR is an address, a domain or <> for the null sender; DURATION is Go's
(90m, 36h) or whole days or weeks (30d, 2w); TIME is RFC 3339.
release hands the message and its envelope (or the --to recipients) to
qmailqueue from simscan.conf; a virus needs --force.`

// quarantineCmd is one run of simscanctl quarantine.
type quarantineCmd struct {
	e   *env
	cfg control.Config
	dir string
	now time.Time
}

func runQuarantine(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.stderr, quarantineUsage)
		return 2
	}
	sub := map[string]func(*quarantineCmd, []string) int{
		"list":    (*quarantineCmd).list,
		"show":    (*quarantineCmd).show,
		"release": (*quarantineCmd).release,
		"delete":  (*quarantineCmd).delete,
		"purge":   (*quarantineCmd).purge,
	}
	f, ok := sub[args[0]]
	if !ok {
		e.errorf("quarantine: unknown subcommand %q", args[0])
		fmt.Fprintln(e.stderr, quarantineUsage)
		return 2
	}
	cfg, err := control.Load(e.control)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	if cfg.QuarantineDir == "" {
		e.errorf("quarantine_dir is not set in %s/%s", e.control, control.ConfigFile)
		return 1
	}
	q := &quarantineCmd{e: e, cfg: cfg, dir: cfg.QuarantineDir, now: time.Now()}
	return f(q, args[1:])
}

// flags makes a flag set whose errors go to stderr with the usage.
func (q *quarantineCmd) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("simscanctl quarantine "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse reads flags and arguments in any order (simscanctl quarantine
// release ID --to ADDR as well as --to ADDR ID). Everything after "--" is
// an argument.
func (q *quarantineCmd) parse(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			q.e.errorf("quarantine %s: %v", strings.TrimPrefix(fs.Name(), "simscanctl quarantine "), err)
			fmt.Fprintln(q.e.stderr, quarantineUsage)
			return nil, false
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), true
		}
		if len(rest) == 0 {
			return pos, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError reports wrong arguments and returns the usage exit code.
func (q *quarantineCmd) usageError(format string, args ...any) int {
	q.e.errorf("quarantine "+format, args...)
	fmt.Fprintln(q.e.stderr, quarantineUsage)
	return 2
}

// entryError reports a failure about entry id and returns 1.
func (q *quarantineCmd) entryError(id string, err error) int {
	switch {
	case errors.Is(err, quarantine.ErrBadID):
		q.e.errorf("%s is not a quarantine id", quarantine.Safe(strconv.Quote(id)))
	case errors.Is(err, quarantine.ErrNotFound):
		q.e.errorf("no quarantined message %s", quarantine.Safe(id))
	default:
		q.e.errorf("%s: %s", quarantine.Safe(id), quarantine.Safe(err.Error()))
	}
	return 1
}

// quarantineAddrs is a repeatable address flag.
type quarantineAddrs []string

func (a *quarantineAddrs) String() string     { return strings.Join(*a, ",") }
func (a *quarantineAddrs) Set(v string) error { *a = append(*a, v); return nil }

func (q *quarantineCmd) list(args []string) int {
	fs := q.flags("list")
	var f quarantine.Filter
	var since string
	fs.StringVar(&f.Class, "class", "", "")
	fs.StringVar(&f.From, "from", "", "")
	fs.StringVar(&f.Rcpt, "rcpt", "", "")
	fs.StringVar(&since, "since", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, ok := q.parse(fs, args)
	if !ok {
		return 2
	}
	if len(pos) > 0 {
		return q.usageError("list: unexpected argument %q", pos[0])
	}
	if f.Class != "" && !isQuarantineClass(f.Class) {
		return q.usageError("list: unknown class %q (want %s)", f.Class, strings.Join(control.QuarantineClasses, ", "))
	}
	if since != "" {
		t, err := parseListSince(since, q.now)
		if err != nil {
			return q.usageError("list: --since: %v", err)
		}
		f.Since = t
	}
	metas, err := quarantine.List(q.dir, f)
	if err != nil {
		q.e.errorf("%v", err)
		return 1
	}
	if *asJSON {
		return q.writeJSON(metas)
	}
	tw := tabwriter.NewWriter(q.e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tCLASS\tSIZE\tFROM\tTO\tDETAIL")
	for _, m := range metas {
		to := ""
		if len(m.To) > 0 {
			to = safeAddr(m.To[0])
		}
		if len(m.To) > 1 {
			to += fmt.Sprintf(" (+%d)", len(m.To)-1)
		}
		detail := quarantine.Safe(m.Detail)
		if len(m.Released) > 0 {
			detail = "[released] " + detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.Time.UTC().Format(time.RFC3339), quarantine.Safe(m.Class),
			m.Size, safeAddr(m.From), to, detail)
	}
	if err := tw.Flush(); err != nil {
		q.e.errorf("%v", err)
		return 1
	}
	return 0
}

func isQuarantineClass(c string) bool {
	for _, k := range control.QuarantineClasses {
		if k == c {
			return true
		}
	}
	return false
}

// safeAddr prints an envelope address safely, <> for the null sender.
func safeAddr(a string) string {
	if a == "" {
		return "<>"
	}
	return quarantine.Safe(a)
}

// parseListSince reads --since: a duration back from now, or a time.
func parseListSince(s string, now time.Time) (time.Time, error) {
	if d, err := parseQuarantineAge(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a duration (36h, 7d) or a time (2006-01-02T15:04:05Z), got %q", s)
}

// parseQuarantineAge reads a positive duration: Go's syntax, or whole days (30d) or
// weeks (2w).
func parseQuarantineAge(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err = quarantineUnits(n, 24*time.Hour)
	} else if n, ok := strings.CutSuffix(s, "w"); ok {
		d, err = quarantineUnits(n, 7*24*time.Hour)
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 36h, 30d or 2w, got %q", s)
	}
	return d, nil
}

func quarantineUnits(n string, unit time.Duration) (time.Duration, error) {
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v > int64(1<<62)/int64(unit) {
		return 0, errors.New("bad number")
	}
	return time.Duration(v) * unit, nil
}

// writeJSON prints v as indented JSON, with every character a terminal
// could act on escaped (encoding/json leaves DEL and C1 controls raw).
func (q *quarantineCmd) writeJSON(v any) int {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		q.e.errorf("%v", err)
		return 1
	}
	data = append(escapeJSONControls(data), '\n')
	if _, err := q.e.stdout.Write(data); err != nil {
		q.e.errorf("%v", err)
		return 1
	}
	return 0
}

// escapeJSONControls rewrites every rune of encoded JSON that is neither ASCII nor
// printable as a \u escape. Such runes only occur inside strings, where the
// escape means the same.
func escapeJSONControls(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= utf8.RuneSelf && !unicode.IsGraphic(r)) {
			if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

func (q *quarantineCmd) show(args []string) int {
	fs := q.flags("show")
	raw := fs.Bool("raw", false, "")
	asJSON := fs.Bool("json", false, "")
	pos, ok := q.parse(fs, args)
	if !ok {
		return 2
	}
	if len(pos) != 1 {
		return q.usageError("show: want one ID")
	}
	if *raw && *asJSON {
		return q.usageError("show: --raw and --json exclude each other")
	}
	id := pos[0]
	meta, err := quarantine.Get(q.dir, id)
	if err != nil {
		return q.entryError(id, err)
	}
	if *asJSON {
		return q.writeJSON(meta)
	}
	msg, err := quarantine.Open(q.dir, id)
	if err != nil {
		return q.entryError(id, err)
	}
	defer msg.Close()
	if *raw {
		if _, err := io.Copy(q.e.stdout, msg); err != nil {
			q.e.errorf("%v", err)
			return 1
		}
		return 0
	}
	q.writeMeta(meta)
	if err := quarantine.View(q.e.stdout, msg); err != nil {
		q.e.errorf("%v", err)
		return 1
	}
	return 0
}

// writeMeta prints the metadata of an entry, one field a line.
func (q *quarantineCmd) writeMeta(m quarantine.Meta) {
	w := q.e.stdout
	field := func(name, value string) {
		if name != "" {
			name += ":"
		}
		fmt.Fprintf(w, "%-10s %s\n", name, value)
	}
	field("id", m.ID)
	field("time", m.Time.UTC().Format(time.RFC3339))
	field("class", quarantine.Safe(m.Class))
	field("detail", quarantine.Safe(m.Detail))
	field("from", safeAddr(m.From))
	for i, a := range m.To {
		if i == 0 {
			field("to", safeAddr(a))
		} else {
			field("", safeAddr(a))
		}
	}
	field("remote ip", quarantine.Safe(m.RemoteIP))
	field("size", strconv.FormatInt(m.Size, 10))
	field("version", quarantine.Safe(m.Version))
	for _, r := range m.Released {
		to := make([]string, len(r.To))
		for i, a := range r.To {
			to[i] = safeAddr(a)
		}
		line := r.Time.UTC().Format(time.RFC3339) + " to " + strings.Join(to, ", ")
		if r.By != "" {
			line += " by " + quarantine.Safe(r.By)
		}
		field("released", line)
	}
}

func (q *quarantineCmd) release(args []string) int {
	fs := q.flags("release")
	var to quarantineAddrs
	fs.Var(&to, "to", "")
	force := fs.Bool("force", false, "")
	pos, ok := q.parse(fs, args)
	if !ok {
		return 2
	}
	if len(pos) != 1 {
		return q.usageError("release: want one ID")
	}
	id := pos[0]
	meta, err := quarantine.Get(q.dir, id)
	if err != nil {
		return q.entryError(id, err)
	}
	if meta.Class == "virus" && !*force {
		q.e.errorf("%s holds a virus (%s): release it with --force if you are sure", id, quarantine.Safe(meta.Detail))
		return 1
	}
	rcpts := meta.To
	if len(to) > 0 {
		rcpts = to
	}
	for _, a := range rcpts {
		if a == "" {
			q.e.errorf("%s: empty recipient address", id)
			return 1
		}
	}
	envelope, err := quarantine.Envelope(meta.From, rcpts)
	if err != nil {
		q.e.errorf("%s: %s", id, quarantine.Safe(err.Error()))
		return 1
	}
	msg, err := quarantine.Open(q.dir, id)
	if err != nil {
		return q.entryError(id, err)
	}
	defer msg.Close()
	if fi, err := msg.Stat(); err != nil {
		return q.entryError(id, err)
	} else if fi.Size() != meta.Size && !*force {
		q.e.errorf("%s: the stored message is %d bytes, its metadata says %d: not released (--force releases it anyway)", id, fi.Size(), meta.Size)
		return 1
	}
	envFile, err := tempEnvelopeFile(envelope)
	if err != nil {
		q.e.errorf("envelope: %v", err)
		return 1
	}
	defer envFile.Close()
	prog := q.cfg.QmailQueue
	code, err := qmail.Run(prog, msg, envFile, os.Environ())
	if err != nil {
		q.e.errorf("cannot run %s: %v", prog, err)
		return 1
	}
	if code != qmail.OK {
		q.e.errorf("%s refused message %s: exit %d (%s)", prog, id, int(code), code)
		return 1
	}
	r := quarantine.Release{Time: q.now, To: rcpts, By: q.user()}
	if _, err := quarantine.RecordRelease(q.dir, id, r); err != nil {
		q.e.errorf("%s was queued, but the release could not be recorded: %v", id, err)
		return 1
	}
	shown := make([]string, len(rcpts))
	for i, a := range rcpts {
		shown[i] = safeAddr(a)
	}
	fmt.Fprintf(q.e.stdout, "released %s to %s\n", id, strings.Join(shown, ", "))
	return 0
}

// tempEnvelopeFile puts an envelope in an unlinked temporary file, for
// qmail-queue's descriptor 1.
func tempEnvelopeFile(envelope []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "simscanctl-envelope-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if _, err := f.Write(envelope); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// user names who runs simscanctl, for the release record.
func (q *quarantineCmd) user() string {
	for _, v := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if u := q.e.getenv(v); u != "" {
			return u
		}
	}
	return ""
}

func (q *quarantineCmd) delete(args []string) int {
	fs := q.flags("delete")
	ids, ok := q.parse(fs, args)
	if !ok {
		return 2
	}
	if len(ids) == 0 {
		return q.usageError("delete: want at least one ID")
	}
	rc := 0
	for _, id := range ids {
		if err := quarantine.Delete(q.dir, id); err != nil {
			rc = q.entryError(id, err)
			continue
		}
		fmt.Fprintf(q.e.stdout, "deleted %s\n", id)
	}
	return rc
}

func (q *quarantineCmd) purge(args []string) int {
	fs := q.flags("purge")
	olderThan := fs.String("older-than", "", "")
	pos, ok := q.parse(fs, args)
	if !ok {
		return 2
	}
	if len(pos) > 0 {
		return q.usageError("purge: unexpected argument %q", pos[0])
	}
	if *olderThan == "" {
		return q.usageError("purge: --older-than is required")
	}
	age, err := parseQuarantineAge(*olderThan)
	if err != nil {
		return q.usageError("purge: --older-than: %v", err)
	}
	removed, err := quarantine.Purge(q.dir, q.now.Add(-age))
	for _, id := range removed {
		fmt.Fprintf(q.e.stdout, "deleted %s\n", id)
	}
	if err != nil {
		q.e.errorf("purge: %v", err)
		return 1
	}
	fmt.Fprintf(q.e.stdout, "purged %d messages older than %s\n", len(removed), *olderThan)
	return 0
}
