package scanner

import "github.com/gosimscan/simscan/control"

// engines returns the daemon checks: clamd, trophie, spamd.
func engines(cfg *control.Config, p *Policy, m *Message) []Check {
	return nil
}
