package scanner

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/control/rules"
)

// RulesFile is the compiled rules file in the control directory.
const RulesFile = "simcontrol.cdb"

// VersionsFile is the scanner-versions file simscanmk -g writes.
const VersionsFile = "simversions.cdb"

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

	// Rules is what simcontrol.cdb said, key by key with its source; zero
	// in global mode.
	Rules rules.Policy
}

// Judge returns what Decide needs from the policy and configuration.
func (p *Policy) Judge(cfg *control.Config) Rules {
	return Rules{
		DropMsg:      cfg.DropMsg,
		SpamHits:     p.SpamHits,
		SpamHitsSet:  p.SpamHitsSet,
		SpamPassthru: p.SpamPassthru,
		OnLimit:      cfg.OnLimit,
	}
}

// ErrNoDaemon is returned when the rules ask for a scanner that simscan.conf
// gives no address for. Scanning less than the rules ask would let mail
// through unscanned, so this is a configuration error.
var ErrNoDaemon = errors.New("rules enable a scanner that simscan.conf does not configure")

// LoadPolicy works out the policy for an envelope from the control
// directory: simcontrol.cdb if it exists, else the global mode.
func LoadPolicy(dir string, cfg *control.Config, from string, to []string) (*Policy, error) {
	p := &Policy{
		SpamHits:     cfg.SpamHits,
		SpamHitsSet:  cfg.SpamHitsSet,
		SpamPassthru: cfg.SpamPassthru,
	}
	set, err := rules.Open(filepath.Join(dir, RulesFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.Mode = "global"
		p.Clam, p.Spam, p.Trophie = cfg.Clamd != "", cfg.Spamd != "", cfg.Trophie != ""
	case err != nil:
		return nil, err
	default:
		defer set.Close()
		rp, err := set.Lookup(from, to)
		if err != nil {
			return nil, err
		}
		if err := p.apply(cfg, rp); err != nil {
			return nil, err
		}
	}
	if p.Attach == nil {
		if p.Attach, err = control.ReadAttachList(dir); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// apply takes the options the rules set, in rules mode: a scanner runs only
// when an entry says yes.
func (p *Policy) apply(cfg *control.Config, rp rules.Policy) error {
	p.Mode, p.Rules = "rules", rp
	p.Clam = rp.Clam.Set && rp.Clam.Value
	p.Spam = rp.Spam.Set && rp.Spam.Value
	p.Trophie = rp.Trophie.Set && rp.Trophie.Value
	for _, c := range []struct {
		on   bool
		addr string
		name string
	}{{p.Clam, cfg.Clamd, "clam (clamd=)"}, {p.Spam, cfg.Spamd, "spam (spamd=)"}, {p.Trophie, cfg.Trophie, "trophie (trophie=)"}} {
		if c.on && c.addr == "" {
			return fmt.Errorf("%w: %s", ErrNoDaemon, c.name)
		}
	}
	if rp.SpamHits.Set {
		p.SpamHits, p.SpamHitsSet = rp.SpamHits.Value, true
	}
	if rp.SpamPassthru.Set {
		p.SpamPassthru = rp.SpamPassthru.Value
	}
	if rp.Attach.Set {
		p.Attach = append([]string{}, rp.Attach.Value...)
	}
	if rp.Regex.Set {
		p.Regex = rp.Regex.Value
	}
	if rp.QmailQueue.Set {
		p.QmailQueue = rp.QmailQueue.Value
	}
	if rp.SpamUser.Set {
		p.SpamUser = rp.SpamUser.Value
	}
	if rp.Quarantine.Set {
		q := rp.Quarantine.Value
		p.Quarantine = &q
	}
	return nil
}

// Versions returns the name and version of each check that ran, for the
// Received header, from simversions.cdb in dir.
func Versions(dir string, ran []string) [][2]string {
	vs, _ := rules.ReadVersions(filepath.Join(dir, VersionsFile))
	out := make([][2]string, 0, len(ran))
	for _, r := range ran {
		out = append(out, [2]string{r, vs[r]})
	}
	return out
}
