package main

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	d := summarize([]float64{5, 1, 4, 2, 3})
	if d.Median != 3 || d.Min != 1 || d.Max != 5 || d.Mean != 3 {
		t.Errorf("summarize = %+v", d)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", got)
	}
	if got := summarize([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}).P95; got != 20 {
		t.Errorf("p95 of 1..21 = %v, want 20", got)
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is a number")
	}
}

func TestWithoutSpamHeaders(t *testing.T) {
	in := "X-Spam-Checker-Version: SpamAssassin\nX-Spam-Status: No, score=0.0\n\tversion=4.0.1\nFrom: a@example.org\nx-spam-level: \nSubject: s\n\nX-Spam-Status: body stays\n"
	want := "From: a@example.org\nSubject: s\n\nX-Spam-Status: body stays\n"
	if got := string(withoutSpamHeaders([]byte(in))); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLogState(t *testing.T) {
	for in, want := range map[string]string{
		"simscan:[12]:CLEAN:0.0010s:subject:127.0.0.1:a@b:c@d\n":                  "CLEAN",
		"simscan: note\nsimscan:[12]:SPAM REJECT (1000.0/5.0/5.0):0.2000s:x:::\n": "SPAM REJECT (1000.0/5.0/5.0)",
		"nothing": "",
	} {
		if got := logState(in); got != want {
			t.Errorf("logState(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseInitTrace(t *testing.T) {
	out := "init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/olekukonko/tablewriter/pkg/twwidth @1.2 ms, 0.21 ms clock, 444272 bytes, 93 allocs\n" +
		"simscan dev\n"
	got := parseInitTrace(out)
	if len(got) != 2 || got["internal/bytealg"] != 0 || got["github.com/olekukonko/tablewriter/pkg/twwidth"] != 0.21 {
		t.Errorf("parseInitTrace = %v", got)
	}
}
