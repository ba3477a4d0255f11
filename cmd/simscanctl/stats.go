package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosimscan/simscan/scanner"
)

func init() {
	commands["stats"] = command{
		summary: "summarise simscan log lines: states, viruses, attachments, spam scores, times",
		run:     runStats,
	}
}

// unknownDay is the day of log lines whose prefix carries no date.
const unknownDay = "unknown"

// statsTop is how many viruses and attachments the text report lists.
const statsTop = 10

// maxLogLine bounds one log line; simscan's own are far shorter.
const maxLogLine = 1 << 20

// statsNow is the clock used to give syslog dates, which lack one, a year.
var statsNow = time.Now

func runStats(e *env, args []string) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of the text report")
	utc := fs.Bool("utc", false, "count multilog and zoned ISO timestamps by their UTC day instead of the local day")
	top := fs.Int("top", statsTop, "how many viruses and attachments the text report lists")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: simscanctl stats [--json] [--utc] [--top N] [LOGFILE...]")
		fmt.Fprintln(e.stderr, "reads standard input without LOGFILE; gzipped files are decompressed")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *top < 1 {
		e.errorf("stats: --top wants a positive number")
		return 2
	}
	st := newLogStats(statsNow(), time.Local)
	if *utc {
		st.loc = time.UTC
	}
	code := 0
	if fs.NArg() == 0 {
		if err := st.read(e.stdin); err != nil {
			e.errorf("stats: standard input: %v", err)
			code = 1
		}
	}
	for _, name := range fs.Args() {
		if err := st.readFile(name); err != nil {
			e.errorf("stats: %v", err)
			code = 1
		}
	}
	rep := st.report()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			e.errorf("stats: %v", err)
			return 1
		}
		return code
	}
	if err := writeStatsText(e.stdout, rep, *top); err != nil {
		e.errorf("stats: %v", err)
		return 1
	}
	return code
}

// logStats collects log lines, overall and by day.
type logStats struct {
	now   time.Time      // for the year of syslog dates
	loc   *time.Location // the zone multilog and zoned ISO dates are shown in
	lines int            // every line read
	other int            // lines that are not simscan log lines
	all   *tally
	days  map[string]*tally
}

func newLogStats(now time.Time, loc *time.Location) *logStats {
	return &logStats{now: now, loc: loc, all: newTally(), days: map[string]*tally{}}
}

// tally is the summary of a set of log lines.
type tally struct {
	states      map[string]int
	viruses     map[string]int
	attachments map[string]int
	scores      [len(scoreBuckets)]int
	scored      int
	times       []time.Duration
}

func newTally() *tally {
	return &tally{states: map[string]int{}, viruses: map[string]int{}, attachments: map[string]int{}}
}

// scoreBuckets are the spam score histogram's buckets: a score s falls in
// the first bucket whose upper bound it is below.
var scoreBuckets = [...]struct {
	label string
	below float64
}{
	{"<0", 0},
	{"0-2", 2},
	{"2-5", 5},
	{"5-10", 10},
	{"10-20", 20},
	{"20-50", 50},
	{">=50", math.Inf(1)},
}

func scoreBucket(s float64) int {
	for i, b := range scoreBuckets {
		if s < b.below {
			return i
		}
	}
	return len(scoreBuckets) - 1 // NaN
}

func (t *tally) add(e scanner.LogEntry) {
	base, score, _, ok := scanner.SpamScores(e.State)
	t.states[base]++
	if ok {
		t.scores[scoreBucket(score)]++
		t.scored++
	}
	switch {
	case strings.HasPrefix(base, "VIRUS"):
		t.viruses[e.Detail]++
	case strings.HasPrefix(base, "ATTACH"):
		t.attachments[e.Detail]++
	}
	t.times = append(t.times, e.Elapsed)
}

func (st *logStats) readFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := st.read(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// read adds the lines of r. Rotated logs are often gzipped (logrotate's
// compress, a multilog processor); the magic number tells, whatever the
// name.
func (st *logStats) read(r io.Reader) error {
	br := bufio.NewReader(r)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer z.Close()
		in = z
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLogLine)
	for sc.Scan() {
		st.addLine(sc.Text())
	}
	return sc.Err()
}

func (st *logStats) addLine(line string) {
	st.lines++
	e, prefix, ok := scanner.ParseLogLine(line)
	if !ok {
		st.other++
		return
	}
	day := unknownDay
	if t, ok := lineTime(prefix, st.now, st.loc); ok {
		day = t.Format(time.DateOnly)
	}
	st.all.add(e)
	d := st.days[day]
	if d == nil {
		d = newTally()
		st.days[day] = d
	}
	d.add(e)
}

// taiEpoch is the TAI64 label of 1970-01-01 00:00:00 UTC as daemontools
// writes it: 2^62 plus the 10 seconds TAI was ahead of UTC then. Like
// tai64nlocal, we ignore the leap seconds since.
const taiEpoch = 1<<62 + 10

var (
	// isoTime is an ISO 8601 / RFC 3339 stamp, as rsyslog, journalctl
	// --output=short-iso and tai64nlocal (a space, no zone) write it.
	isoTime = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?(\s|$)`)
	// syslogTime is the RFC 3164 stamp "Jan  5 12:34:56", which has no year.
	syslogTime = regexp.MustCompile(`^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}:\d{2}:\d{2})(\s|$)`)
	// syslogPri is the "<PRI>" (and RFC 5424 version) of a raw syslog line.
	syslogPri = regexp.MustCompile(`^<\d{1,3}>(1 )?`)
)

// lineTime reads the time at the start of a log line's prefix: a multilog
// TAI64N label, an ISO date or a syslog date, after any syslog "<PRI>".
// Multilog labels and ISO dates with a zone are instants, shown in loc; an
// ISO date without a zone and a syslog date are kept as written. A syslog
// date has no year: it gets now's, or the one before if that would put it
// more than a day after now.
func lineTime(prefix string, now time.Time, loc *time.Location) (time.Time, bool) {
	p := strings.TrimLeft(prefix, " \t")
	p = syslogPri.ReplaceAllString(p, "")
	if len(p) >= 25 && p[0] == '@' {
		secs, err1 := strconv.ParseUint(p[1:17], 16, 64)
		nanos, err2 := strconv.ParseUint(p[17:25], 16, 32)
		if err1 != nil || err2 != nil || secs < taiEpoch || secs-taiEpoch > math.MaxInt64/2 || nanos >= 1e9 {
			return time.Time{}, false
		}
		return time.Unix(int64(secs-taiEpoch), int64(nanos)).In(loc), true
	}
	if m := isoTime.FindStringSubmatch(p); m != nil {
		zone := m[4]
		if zone == "" {
			t, err := time.Parse(time.DateTime, m[1]+" "+m[2])
			return t, err == nil
		}
		if zone != "Z" && !strings.Contains(zone, ":") {
			zone = zone[:3] + ":" + zone[3:]
		}
		t, err := time.Parse(time.RFC3339, m[1]+"T"+m[2]+zone)
		if err != nil {
			return time.Time{}, false
		}
		return t.In(loc), true
	}
	if m := syslogTime.FindStringSubmatch(p); m != nil {
		// Feb 29 parses only in a leap year, so try each year on its own.
		for year := now.Year(); year >= now.Year()-1; year-- {
			t, err := time.Parse("2006 Jan 2 15:04:05", fmt.Sprintf("%d %s %s %s", year, m[1], m[2], m[3]))
			if err == nil && !t.After(now.Add(24*time.Hour)) {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// statsReport is what stats prints; with --json, as it is.
type statsReport struct {
	UTC          bool         `json:"utc"` // days are UTC days, not local ones
	Lines        int          `json:"lines"`
	SimscanLines int          `json:"simscan_lines"`
	OtherLines   int          `json:"other_lines"`
	FirstDay     string       `json:"first_day,omitempty"`
	LastDay      string       `json:"last_day,omitempty"`
	Total        summary      `json:"total"`
	Days         []daySummary `json:"days"`
}

type daySummary struct {
	Day string `json:"day"` // YYYY-MM-DD or "unknown"
	summary
}

type summary struct {
	Messages    int            `json:"messages"`
	States      map[string]int `json:"states"`
	Viruses     []named        `json:"viruses"`
	Attachments []named        `json:"attachments"`
	SpamScores  scoreSummary   `json:"spam_scores"`
	Time        timeSummary    `json:"time"`
}

type named struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type scoreSummary struct {
	Scored  int                `json:"scored"`
	Buckets []scoreBucketCount `json:"buckets"`
}

type scoreBucketCount struct {
	Bucket string   `json:"bucket"`
	Min    *float64 `json:"min"` // inclusive; null for no bound
	Max    *float64 `json:"max"` // exclusive; null for no bound
	Count  int      `json:"count"`
}

type timeSummary struct {
	MeanSeconds float64 `json:"mean_seconds"`
	P95Seconds  float64 `json:"p95_seconds"`
	MaxSeconds  float64 `json:"max_seconds"`
}

func (st *logStats) report() statsReport {
	r := statsReport{
		UTC:          st.loc == time.UTC,
		Lines:        st.lines,
		SimscanLines: st.lines - st.other,
		OtherLines:   st.other,
		Total:        st.all.summary(),
		Days:         []daySummary{},
	}
	days := make([]string, 0, len(st.days))
	for d := range st.days {
		if d != unknownDay {
			days = append(days, d)
		}
	}
	sort.Strings(days)
	if len(days) > 0 {
		r.FirstDay, r.LastDay = days[0], days[len(days)-1]
	}
	if _, ok := st.days[unknownDay]; ok {
		days = append(days, unknownDay)
	}
	for _, d := range days {
		r.Days = append(r.Days, daySummary{Day: d, summary: st.days[d].summary()})
	}
	return r
}

func (t *tally) summary() summary {
	s := summary{
		Messages:    len(t.times),
		States:      t.states,
		Viruses:     ranked(t.viruses),
		Attachments: ranked(t.attachments),
		SpamScores:  scoreSummary{Scored: t.scored},
		Time:        timeStats(t.times),
	}
	lower := math.Inf(-1)
	for i, b := range scoreBuckets {
		c := scoreBucketCount{Bucket: b.label, Count: t.scores[i]}
		if !math.IsInf(lower, 0) {
			c.Min = ptr(lower)
		}
		if !math.IsInf(b.below, 0) {
			c.Max = ptr(b.below)
		}
		s.SpamScores.Buckets = append(s.SpamScores.Buckets, c)
		lower = b.below
	}
	return s
}

func ptr(f float64) *float64 { return &f }

// ranked lists counts from the highest, ties by name.
func ranked(m map[string]int) []named {
	out := make([]named, 0, len(m))
	for k, v := range m {
		out = append(out, named{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// timeStats gives the mean, the 95th percentile (nearest rank) and the
// maximum, in seconds to the log's precision of 0.1ms.
func timeStats(ts []time.Duration) timeSummary {
	if len(ts) == 0 {
		return timeSummary{}
	}
	sorted := append([]time.Duration(nil), ts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	rank := int(math.Ceil(0.95*float64(len(sorted)))) - 1
	return timeSummary{
		MeanSeconds: roundSeconds(sum / time.Duration(len(sorted))),
		P95Seconds:  roundSeconds(sorted[rank]),
		MaxSeconds:  roundSeconds(sorted[len(sorted)-1]),
	}
}

func roundSeconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1e4) / 1e4
}

func writeStatsText(w io.Writer, r statsReport, top int) error {
	b := bufio.NewWriter(w)
	fmt.Fprintln(b, "simscan log summary")
	fmt.Fprintf(b, "  lines read     %d\n", r.Lines)
	fmt.Fprintf(b, "  simscan lines  %d\n", r.SimscanLines)
	fmt.Fprintf(b, "  other lines    %d\n", r.OtherLines)
	switch {
	case r.FirstDay == "":
		fmt.Fprintln(b, "  period         no dated lines")
	case r.FirstDay == r.LastDay:
		fmt.Fprintf(b, "  period         %s\n", r.FirstDay)
	default:
		fmt.Fprintf(b, "  period         %s to %s\n", r.FirstDay, r.LastDay)
	}
	for _, d := range r.Days {
		if d.Day == unknownDay {
			fmt.Fprintf(b, "  undated        %d messages\n", d.Messages)
		}
	}
	s := r.Total
	fmt.Fprintf(b, "\nmessages by state (%d)\n", s.Messages)
	states := ranked(s.States)
	width := 5
	for _, n := range states {
		width = max(width, len(n.Name))
	}
	for _, n := range states {
		fmt.Fprintf(b, "  %-*s %6d  %5.1f%%\n", width, n.Name, n.Count, 100*float64(n.Count)/float64(s.Messages))
	}
	writeTop(b, "top viruses", s.Viruses, top)
	writeTop(b, "top blocked attachments", s.Attachments, top)
	fmt.Fprintf(b, "\nspam scores (%d scored)\n", s.SpamScores.Scored)
	most := 0
	for _, c := range s.SpamScores.Buckets {
		most = max(most, c.Count)
	}
	for _, c := range s.SpamScores.Buckets {
		bar := 0
		if most > 0 {
			bar = (c.Count*40 + most - 1) / most
		}
		fmt.Fprintf(b, "  %-6s %6d  %s\n", c.Bucket, c.Count, strings.Repeat("#", bar))
	}
	fmt.Fprintln(b, "\nprocessing time")
	fmt.Fprintf(b, "  mean %.4fs  p95 %.4fs  max %.4fs\n", s.Time.MeanSeconds, s.Time.P95Seconds, s.Time.MaxSeconds)

	if len(r.Days) > 0 {
		fmt.Fprintln(b, "\nper day")
	}
	for _, d := range r.Days {
		fmt.Fprintf(b, "  %s: %d messages, mean %.4fs, p95 %.4fs, max %.4fs\n", d.Day, d.Messages, d.Time.MeanSeconds, d.Time.P95Seconds, d.Time.MaxSeconds)
		fmt.Fprintf(b, "    states       %s\n", joinNamed(ranked(d.States), 0))
		if len(d.Viruses) > 0 {
			fmt.Fprintf(b, "    viruses      %s\n", joinNamed(d.Viruses, top))
		}
		if len(d.Attachments) > 0 {
			fmt.Fprintf(b, "    attachments  %s\n", joinNamed(d.Attachments, top))
		}
		if d.SpamScores.Scored > 0 {
			var parts []string
			for _, c := range d.SpamScores.Buckets {
				parts = append(parts, fmt.Sprintf("%s %d", c.Bucket, c.Count))
			}
			fmt.Fprintf(b, "    spam scores  %s\n", strings.Join(parts, ", "))
		}
	}
	return b.Flush()
}

func writeTop(w io.Writer, title string, list []named, top int) {
	fmt.Fprintf(w, "\n%s\n", title)
	if len(list) == 0 {
		fmt.Fprintln(w, "  none")
		return
	}
	width := 0
	for i, n := range list {
		if i < top {
			width = max(width, len(n.Name))
		}
	}
	for i, n := range list {
		if i == top {
			fmt.Fprintf(w, "  (%d more)\n", len(list)-top)
			break
		}
		fmt.Fprintf(w, "  %-*s %6d\n", width, n.Name, n.Count)
	}
}

// joinNamed writes "NAME COUNT, ..." for at most top entries (0: all).
func joinNamed(list []named, top int) string {
	var parts []string
	for i, n := range list {
		if top > 0 && i == top {
			parts = append(parts, fmt.Sprintf("(%d more)", len(list)-top))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", n.Name, n.Count))
	}
	return strings.Join(parts, ", ")
}
