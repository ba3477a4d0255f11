package scanner

import (
	"github.com/gosimscan/simscan/control"
)

// Policy is the effective policy for one message: which checks run and how
// their findings are judged. It comes from simcontrol.cdb when that exists
// ("rules" mode) and from simscan.conf and ssattach otherwise ("global"
// mode).
type Policy struct {
	Mode         string   // "rules" or "global"
	Attach       []string // banned extensions; empty: no attachment check
	Regex        []string // regex rules, in order
	Clam         bool
	Trophie      bool
	Spam         bool
	SpamHits     float64
	SpamHitsSet  bool
	SpamPassthru bool
	SpamUser     string
	QmailQueue   string // overrides qmailqueue from simscan.conf
	Quarantine   *bool  // overrides quarantine_classes when set

	// Sources names, key by key, the entry each value came from.
	Sources map[string]string
}

// Rules returns what Decide needs from the policy and configuration.
func (p *Policy) Rules(cfg *control.Config) Rules {
	return Rules{
		DropMsg:      cfg.DropMsg,
		SpamHits:     p.SpamHits,
		SpamHitsSet:  p.SpamHitsSet,
		SpamPassthru: p.SpamPassthru,
		OnLimit:      cfg.OnLimit,
	}
}

// LoadPolicy works out the policy for an envelope.
func LoadPolicy(dir string, cfg *control.Config, from string, to []string) (*Policy, error) {
	p := &Policy{
		Mode:         "global",
		Clam:         cfg.Clamd != "",
		Spam:         cfg.Spamd != "",
		Trophie:      cfg.Trophie != "",
		SpamHits:     cfg.SpamHits,
		SpamHitsSet:  cfg.SpamHitsSet,
		SpamPassthru: cfg.SpamPassthru,
	}
	return p, nil
}

// Build returns the checks the policy asks for, in simscan's order:
// attachments, regex, clamd, trophie, spamd.
func Build(cfg *control.Config, p *Policy, m *Message, logf func(string, ...any)) []Check {
	return nil
}

// Versions returns the name and version of each check that ran, for the
// Received header, from simversions.cdb in dir.
func Versions(dir string, ran []string) [][2]string {
	out := make([][2]string, 0, len(ran))
	for _, r := range ran {
		out = append(out, [2]string{r, ""})
	}
	return out
}
