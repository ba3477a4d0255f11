package scanner

import (
	"fmt"

	"github.com/gosimscan/simscan/control"
)

// Action is what happens to a message.
type Action int

// The actions. Pass queues the message; Reject refuses it permanently;
// TempFail refuses it so the sender retries; Drop accepts it and throws it
// away (dropmsg).
const (
	Pass Action = iota
	Reject
	TempFail
	Drop
)

func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Reject:
		return "reject"
	case TempFail:
		return "tempfail"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Rules is the part of the effective policy that Decide needs.
type Rules struct {
	DropMsg      bool
	SpamHits     float64
	SpamHitsSet  bool
	SpamPassthru bool
	OnLimit      control.LimitAction
}

// Verdict is the decision for a message: what to do, the state and detail
// for the log line, the text the sender sees, and the quarantine class.
type Verdict struct {
	Action Action
	State  string // log state, e.g. CLEAN, VIRUS, SPAM REJECT (12.00/5.00/10.00)
	Detail string // log detail: virus, attachment, filter or cause; empty for the subject
	Text   string // text for the sender on refusal or temporary failure
	Class  string // quarantine class: virus, spam, attach, regex, limit; empty for none
}

// The texts a sender sees. The first three are simscan's, word for word.
const (
	virusText      = "Your email was rejected because it contains the %s virus"
	attachText     = "Your email was rejected because it contains a bad attachment: %s"
	spamText       = "Your email is considered spam (%.2f spam-hits)"
	regexText      = "Your email was rejected because it matches a filter (#%s)"
	encryptedText  = "Your email was rejected because it contains an encrypted attachment that cannot be scanned: %s"
	limitText      = "Your email was rejected because it is too complex to scan"
	limitTempText  = "Your email could not be scanned completely, please try again later"
	scannerErrText = "Your email could not be scanned now, please try again later"
)

// Decide turns one finding into a verdict under the rules. It is pure: the
// same finding and rules always give the same verdict.
func Decide(f Finding, r Rules) Verdict {
	var v Verdict
	switch f.Kind {
	case Clean:
		return Verdict{Action: Pass, State: "CLEAN"}
	case Attachment:
		v = Verdict{Action: Reject, State: "ATTACH", Detail: f.Name, Text: fmt.Sprintf(attachText, f.Name), Class: "attach"}
	case Encrypted:
		v = Verdict{Action: Reject, State: "ATTACH", Detail: f.Name + " (encrypted)", Text: fmt.Sprintf(encryptedText, f.Name), Class: "attach"}
	case Regex:
		v = Verdict{Action: Reject, State: "REGEX", Detail: "#" + f.Name, Text: fmt.Sprintf(regexText, f.Name), Class: "regex"}
	case Virus:
		v = Verdict{Action: Reject, State: "VIRUS", Detail: f.Name, Text: fmt.Sprintf(virusText, f.Name), Class: "virus"}
	case Limit:
		switch r.OnLimit {
		case control.LimitPass:
			return Verdict{Action: Pass, State: "CLEAN", Detail: f.Name}
		case control.LimitTempFail:
			return Verdict{Action: TempFail, State: "TEMPFAIL", Detail: "limit " + f.Name, Text: limitTempText, Class: "limit"}
		}
		v = Verdict{Action: Reject, State: "LIMIT", Detail: f.Name, Text: limitText, Class: "limit"}
	case Spam:
		return decideSpam(f, r)
	default:
		return Verdict{Action: TempFail, State: "TEMPFAIL", Detail: fmt.Sprintf("unknown finding %d", f.Kind), Text: scannerErrText}
	}
	if r.DropMsg {
		v.Action, v.State, v.Text = Drop, v.State+" DROPPED", ""
	}
	return v
}

// decideSpam applies simscan's spam policy. With spam_hits set, the score
// alone decides; otherwise spamd's flag does, unless spam_passthru.
func decideSpam(f Finding, r Rules) Verdict {
	threshold := f.Required
	if r.SpamHitsSet {
		threshold = r.SpamHits
	}
	scores := fmt.Sprintf(" (%.2f/%.2f/%.2f)", f.Score, f.Required, threshold)
	refuse := false
	passState := "CLEAN"
	if r.SpamHitsSet {
		refuse = f.Score >= r.SpamHits
		if f.Flagged {
			passState = "SPAM PASS"
		}
	} else if f.Flagged {
		refuse = !r.SpamPassthru
		passState = "PASSTHRU"
	}
	if !refuse {
		return Verdict{Action: Pass, State: passState + scores}
	}
	if r.DropMsg {
		return Verdict{Action: Drop, State: "SPAM DROPPED" + scores, Class: "spam"}
	}
	return Verdict{Action: Reject, State: "SPAM REJECT" + scores, Text: fmt.Sprintf(spamText, f.Score), Class: "spam"}
}

// ScannerError is the verdict when a scanner could not decide and the
// configuration says to fail temporarily.
func ScannerError(scanner string, err error) Verdict {
	return Verdict{Action: TempFail, State: "TEMPFAIL", Detail: scanner + ": " + err.Error(), Text: scannerErrText}
}
