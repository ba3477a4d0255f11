package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// updateGolden is the -update flag: rewrite the golden files under testdata
// instead of comparing with them. Another golden test of this package may
// have defined it first; then both share it.
var updateGolden = func() flag.Getter {
	if f := flag.Lookup("update"); f != nil {
		return f.Value.(flag.Getter)
	}
	flag.Bool("update", false, "rewrite the golden files under testdata")
	return flag.Lookup("update").Value.(flag.Getter)
}()

const statsDir = "../../testdata/stats"

// statsCtl runs simscanctl with args and stdin, returning the exit code,
// standard output and standard error.
func statsCtl(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdin:   strings.NewReader(stdin),
		stdout:  &out,
		stderr:  &errOut,
		getenv:  func(string) string { return "" },
		control: t.TempDir(),
	}
	code := run(e, args)
	return code, out.String(), errOut.String()
}

// statsGolden compares got with the named file in testdata/stats, or writes it
// with -update.
func statsGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(statsDir, name)
	if updateGolden.Get().(bool) {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to rewrite it, then review the diff)\ngot:\n%s", path, got)
	}
}

func TestStatsGolden(t *testing.T) {
	log := filepath.Join(statsDir, "sample.log")
	for _, tt := range []struct {
		golden string
		args   []string
	}{
		{"sample.txt", []string{"stats", "--utc", log}},
		{"sample.json", []string{"stats", "--utc", "--json", log}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			code, out, errOut := statsCtl(t, "", tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			statsGolden(t, tt.golden, out)

			// The same log on standard input gives the same report.
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			code, fromStdin, _ := statsCtl(t, string(data), tt.args[:len(tt.args)-1]...)
			if code != 0 || fromStdin != out {
				t.Errorf("standard input: exit %d, report differs from the file's", code)
			}
		})
	}
}

// TestStatsJSON checks the sample's figures one by one, so that the golden
// file is not the only witness.
func TestStatsJSON(t *testing.T) {
	code, out, _ := statsCtl(t, "", "stats", "--utc", "--json", filepath.Join(statsDir, "sample.log"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var r statsReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Lines != 33 || r.SimscanLines != 27 || r.OtherLines != 6 {
		t.Errorf("lines %d, simscan %d, other %d; want 33, 27, 6", r.Lines, r.SimscanLines, r.OtherLines)
	}
	if r.FirstDay != "2026-11-18" || r.LastDay != "2026-11-20" || !r.UTC {
		t.Errorf("period %s to %s, utc %v", r.FirstDay, r.LastDay, r.UTC)
	}
	wantStates := map[string]int{
		"CLEAN": 8, "VIRUS": 4, "ATTACH": 4, "SPAM REJECT": 2, "ENVELOPE": 1, "LIMIT": 1, "PASSTHRU": 1,
		"REGEX": 1, "RELAYCLIENT": 1, "SPAM DROPPED": 1, "SPAM PASS": 1, "TEMPFAIL": 1, "VIRUS DROPPED": 1,
	}
	if len(r.Total.States) != len(wantStates) {
		t.Errorf("states %v", r.Total.States)
	}
	for s, n := range wantStates {
		if r.Total.States[s] != n {
			t.Errorf("state %s: %d, want %d", s, r.Total.States[s], n)
		}
	}
	if v := r.Total.Viruses; len(v) != 2 || v[0] != (named{"Eicar-Signature", 3}) || v[1] != (named{"Win.Trojan.Agent-1234", 2}) {
		t.Errorf("viruses %v", v)
	}
	if a := r.Total.Attachments; len(a) != 3 || a[0] != (named{"invoice.exe", 2}) {
		t.Errorf("attachments %v", a)
	}
	var hist []int
	for _, b := range r.Total.SpamScores.Buckets {
		hist = append(hist, b.Count)
	}
	if got, want := hist, []int{1, 3, 1, 2, 2, 1, 1}; !slices.Equal(got, want) || r.Total.SpamScores.Scored != 11 {
		t.Errorf("histogram %v (%d scored), want %v (11)", got, r.Total.SpamScores.Scored, want)
	}
	if tm := r.Total.Time; tm.P95Seconds != 4.1 || tm.MaxSeconds != 60.0012 || tm.MeanSeconds != 3.0759 {
		t.Errorf("time %+v", tm)
	}
	var days []string
	for _, d := range r.Days {
		days = append(days, d.Day+":"+strconv.Itoa(d.Messages))
	}
	if got := strings.Join(days, " "); got != "2026-11-18:10 2026-11-19:11 2026-11-20:4 unknown:2" {
		t.Errorf("days %s", got)
	}
	// The PASSTHRU line is stamped 23:59:59.9 UTC on the 18th.
	if r.Days[0].States["PASSTHRU"] != 1 {
		t.Errorf("first day's states %v", r.Days[0].States)
	}
}

func TestLineTime(t *testing.T) {
	now := time.Date(2026, 1, 3, 12, 0, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	for _, tt := range []struct {
		prefix string
		loc    *time.Location
		want   string // RFC 3339 in loc, or "" for no date
	}{
		// 2^62+10+1700000000 = 0x400000006553f10a.
		{"@400000006553f10a1dcd6500 ", time.UTC, "2023-11-14T22:13:20Z"},
		{"@400000006553f10a1dcd6500 ", berlin, "2023-11-14T23:13:20+01:00"},
		{"@400000006553f10a ", time.UTC, ""},                               // too short
		{"@000000006553f10a1dcd6500 ", time.UTC, ""},                       // before the TAI64 epoch
		{"@400000006553f10aFFFFFFFF ", time.UTC, ""},                       // nanoseconds out of range
		{"2025-12-31 23:59:59.123456789 ", berlin, "2025-12-31T23:59:59Z"}, // tai64nlocal: kept as written
		{"2025-12-31T23:30:00+02:00 mail qmail: ", time.UTC, "2025-12-31T21:30:00Z"},
		{"2025-12-31T23:30:00.5-0500 mail qmail: ", time.UTC, "2026-01-01T04:30:00Z"},
		{"2025-12-31T23:30:00Z mail qmail: ", berlin, "2026-01-01T00:30:00+01:00"},
		{"2025-12-31T23:30:00Zulu ", time.UTC, ""},
		{"Jan  3 11:00:00 mail qmail: ", time.UTC, "2026-01-03T11:00:00Z"},
		{"Jan  4 11:00:00 mail qmail: ", time.UTC, "2026-01-04T11:00:00Z"}, // within a day of now
		{"Dec 31 23:59:59 mail qmail: ", time.UTC, "2025-12-31T23:59:59Z"}, // last year
		{"Feb 29 10:00:00 mail qmail: ", time.UTC, ""},                     // no leap day in 2026 or 2025
		{"<30>Jan  2 10:00:00 mail qmail: ", time.UTC, "2026-01-02T10:00:00Z"},
		{"<30>1 2026-01-02T10:00:00Z mail qmail - - - ", time.UTC, "2026-01-02T10:00:00Z"},
		{"qmail-smtpd: ", time.UTC, ""},
		{"", time.UTC, ""},
	} {
		got, ok := lineTime(tt.prefix, now, tt.loc)
		s := ""
		if ok {
			s = got.Format(time.RFC3339)
		}
		if s != tt.want {
			t.Errorf("lineTime(%q) = %q, want %q", tt.prefix, s, tt.want)
		}
	}
	leap := time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC)
	if got, ok := lineTime("Feb 29 10:00:00 x", leap, time.UTC); !ok || got.Format(time.DateOnly) != "2028-02-29" {
		t.Errorf("leap day: %v %v", got, ok)
	}
}

func TestScoreBuckets(t *testing.T) {
	for _, tt := range []struct {
		score float64
		want  string
	}{
		{-0.1, "<0"}, {0, "0-2"}, {1.99, "0-2"}, {2, "2-5"}, {5, "5-10"}, {9.99, "5-10"},
		{10, "10-20"}, {20, "20-50"}, {49.9, "20-50"}, {50, ">=50"}, {1e9, ">=50"},
	} {
		if got := scoreBuckets[scoreBucket(tt.score)].label; got != tt.want {
			t.Errorf("score %v in %s, want %s", tt.score, got, tt.want)
		}
	}
}

func TestTimeStats(t *testing.T) {
	var ts []time.Duration
	for i := 1; i <= 100; i++ {
		ts = append(ts, time.Duration(i)*time.Second)
	}
	got := timeStats(ts)
	if got.MeanSeconds != 50.5 || got.P95Seconds != 95 || got.MaxSeconds != 100 {
		t.Errorf("1..100s: %+v", got)
	}
	if got := timeStats([]time.Duration{1500 * time.Millisecond}); got.P95Seconds != 1.5 || got.MeanSeconds != 1.5 {
		t.Errorf("one: %+v", got)
	}
	if got := timeStats(nil); got != (timeSummary{}) {
		t.Errorf("none: %+v", got)
	}
}

func TestStatsEmpty(t *testing.T) {
	code, out, _ := statsCtl(t, "tcpserver: status: 0/40\n", "stats")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"lines read     1", "simscan lines  0", "no dated lines", "messages by state (0)", "mean 0.0000s"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "NaN") {
		t.Errorf("NaN in\n%s", out)
	}
	code, out, _ = statsCtl(t, "", "stats", "--json")
	var r statsReport
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Total.Messages != 0 || r.Days == nil {
		t.Errorf("empty JSON: exit %d\n%s", code, out)
	}
}

func TestStatsFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "current")
	// A multilog processor may gzip without the name saying so.
	gz := filepath.Join(dir, "@400000006578a1b2c3d4e5f6.s")
	if err := os.WriteFile(plain, []byte("simscan:[1]:VIRUS:0.1000s:Eicar-Signature:192.0.2.1:a@b:c@d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("2026-01-02T03:04:05Z mail qmail: simscan:[2]:SPAM REJECT (30.0/5.0):1.0000s:x:192.0.2.2:a@b:c@d\n"))
	zw.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := statsCtl(t, "", "stats", "--json", "--utc", plain, gz)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r statsReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Total.States["VIRUS"] != 1 || r.Total.States["SPAM REJECT"] != 1 || len(r.Days) != 2 || r.Days[0].Day != "2026-01-02" || r.Days[1].Day != "unknown" {
		t.Errorf("two files: %s", out)
	}

	// Gzipped data on standard input is decompressed too.
	code, out, _ = statsCtl(t, buf.String(), "stats", "--json")
	if code != 0 || !strings.Contains(out, `"SPAM REJECT": 1`) {
		t.Errorf("gzipped standard input: exit %d\n%s", code, out)
	}

	// A file that cannot be read is reported, the others still count.
	code, out, errOut = statsCtl(t, "", "stats", plain, filepath.Join(dir, "missing"))
	if code != 1 || !strings.HasPrefix(errOut, "simscanctl: stats: ") || !strings.Contains(errOut, "missing") || !strings.Contains(out, "VIRUS") {
		t.Errorf("missing file: exit %d, stderr %q\n%s", code, errOut, out)
	}
	if code, _, _ := statsCtl(t, "", "stats", "--top", "0"); code != 2 {
		t.Errorf("--top 0: exit %d, want 2", code)
	}
	if code, _, _ := statsCtl(t, "", "stats", "--bogus"); code != 2 {
		t.Errorf("--bogus: exit %d, want 2", code)
	}
}

func TestStatsTop(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 5; i++ {
		for j := 0; j <= i; j++ {
			in.WriteString("simscan:[1]:ATTACH:0.1000s:file" + strconv.Itoa(i) + ".exe:192.0.2.1:a@b:c@d\n")
		}
	}
	_, out, _ := statsCtl(t, in.String(), "stats", "--top", "2")
	if !strings.Contains(out, "file4.exe") || !strings.Contains(out, "file3.exe") || strings.Contains(out, "file2.exe") || !strings.Contains(out, "(3 more)") {
		t.Errorf("top 2:\n%s", out)
	}
}
