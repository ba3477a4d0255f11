package scanner

import (
	"errors"
	"testing"

	"github.com/gosimscan/simscan/control"
)

func TestDecide(t *testing.T) {
	hits := func(h float64) Rules { return Rules{SpamHits: h, SpamHitsSet: true} }
	gtube := Finding{Kind: Spam, Flagged: true, Score: 1000, Required: 5}
	ham := Finding{Kind: Spam, Score: 1.2, Required: 5}
	tests := []struct {
		name string
		f    Finding
		r    Rules
		want Verdict
	}{
		{"clean", Finding{Kind: Clean}, Rules{}, Verdict{Action: Pass, State: "CLEAN"}},
		{"virus", Finding{Kind: Virus, Name: "Eicar-Test-Signature"}, Rules{},
			Verdict{Reject, "VIRUS", "Eicar-Test-Signature", "Your email was rejected because it contains the Eicar-Test-Signature virus", "virus"}},
		{"virus dropped", Finding{Kind: Virus, Name: "X"}, Rules{DropMsg: true},
			Verdict{Drop, "VIRUS DROPPED", "X", "", "virus"}},
		{"attachment", Finding{Kind: Attachment, Name: "trojan.exe"}, Rules{},
			Verdict{Reject, "ATTACH", "trojan.exe", "Your email was rejected because it contains a bad attachment: trojan.exe", "attach"}},
		{"attachment dropped", Finding{Kind: Attachment, Name: "trojan.exe"}, Rules{DropMsg: true},
			Verdict{Drop, "ATTACH DROPPED", "trojan.exe", "", "attach"}},
		{"encrypted", Finding{Kind: Encrypted, Name: "secret.zip/a.doc"}, Rules{},
			Verdict{Reject, "ATTACH", "secret.zip/a.doc (encrypted)", "Your email was rejected because it contains an encrypted attachment that cannot be scanned: secret.zip/a.doc", "attach"}},
		{"regex", Finding{Kind: Regex, Name: "2"}, Rules{},
			Verdict{Reject, "REGEX", "#2", "Your email was rejected because it matches a filter (#2)", "regex"}},
		{"limit reject", Finding{Kind: Limit, Name: "part count"}, Rules{OnLimit: control.LimitReject},
			Verdict{Reject, "LIMIT", "part count", "Your email was rejected because it is too complex to scan", "limit"}},
		{"limit tempfail", Finding{Kind: Limit, Name: "part count"}, Rules{OnLimit: control.LimitTempFail},
			Verdict{TempFail, "TEMPFAIL", "limit part count", "Your email could not be scanned completely, please try again later", "limit"}},
		{"limit pass", Finding{Kind: Limit, Name: "part count"}, Rules{OnLimit: control.LimitPass},
			Verdict{Pass, "CLEAN", "part count", "", ""}},
		{"spam flagged, no hits", gtube, Rules{},
			Verdict{Reject, "SPAM REJECT (1000.00/5.00/5.00)", "", "Your email is considered spam (1000.00 spam-hits)", "spam"}},
		{"spam flagged, dropmsg", gtube, Rules{DropMsg: true},
			Verdict{Drop, "SPAM DROPPED (1000.00/5.00/5.00)", "", "", "spam"}},
		{"spam flagged, passthru", gtube, Rules{SpamPassthru: true},
			Verdict{Pass, "PASSTHRU (1000.00/5.00/5.00)", "", "", ""}},
		{"spam passthru with dropmsg still passes", gtube, Rules{SpamPassthru: true, DropMsg: true},
			Verdict{Pass, "PASSTHRU (1000.00/5.00/5.00)", "", "", ""}},
		{"spam over hits", gtube, hits(20),
			Verdict{Reject, "SPAM REJECT (1000.00/5.00/20.00)", "", "Your email is considered spam (1000.00 spam-hits)", "spam"}},
		{"spam hits beat passthru", gtube, Rules{SpamHits: 20, SpamHitsSet: true, SpamPassthru: true},
			Verdict{Reject, "SPAM REJECT (1000.00/5.00/20.00)", "", "Your email is considered spam (1000.00 spam-hits)", "spam"}},
		{"spam under hits", gtube, hits(2000),
			Verdict{Pass, "SPAM PASS (1000.00/5.00/2000.00)", "", "", ""}},
		{"score exactly at hits", Finding{Kind: Spam, Score: 7, Required: 5, Flagged: true}, hits(7),
			Verdict{Reject, "SPAM REJECT (7.00/5.00/7.00)", "", "Your email is considered spam (7.00 spam-hits)", "spam"}},
		{"unflagged over hits", Finding{Kind: Spam, Score: 4, Required: 5}, hits(3),
			Verdict{Reject, "SPAM REJECT (4.00/5.00/3.00)", "", "Your email is considered spam (4.00 spam-hits)", "spam"}},
		{"ham", ham, Rules{}, Verdict{Pass, "CLEAN (1.20/5.00/5.00)", "", "", ""}},
		{"ham under hits", ham, hits(10), Verdict{Pass, "CLEAN (1.20/5.00/10.00)", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.f, tt.r); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestScannerError(t *testing.T) {
	v := ScannerError("clamd", errors.New("dial unix /x: connection refused"))
	if v.Action != TempFail || v.State != "TEMPFAIL" || v.Detail != "clamd: dial unix /x: connection refused" || v.Text == "" {
		t.Errorf("got %+v", v)
	}
}
