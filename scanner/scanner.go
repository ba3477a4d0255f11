// Package scanner holds what every check of a message shares: the Message
// being scanned, the Check interface each engine implements, the Finding a
// check reports, and the pure policy (Decide) that turns a finding and the
// effective rules into simscan's verdict. The engines live in subpackages
// (clamd, spamd, trophie); the pipeline that runs them in order is in
// pipeline.go.
package scanner

import (
	"context"
	"os"
)

// Message is one spooled message and its envelope, as the checks see it.
type Message struct {
	Dir  string   // the per-message work directory
	Path string   // the raw message as received
	File *os.File // Path, open for reading; checks use ReadAt or their own offset
	Size int64

	From string   // envelope sender, as received
	To   []string // envelope recipients, as received

	RemoteIP    string // TCPREMOTEIP
	RelayClient bool   // RELAYCLIENT is set: an authenticated or trusted sender
}

// Kind is what a check found.
type Kind int

// The kinds of finding, in the order checks run.
const (
	Clean      Kind = iota // nothing found
	Attachment             // a banned attachment name
	Encrypted              // an encrypted archive member that cannot be inspected
	Regex                  // a regex rule matched a line
	Limit                  // a MIME or archive limit was hit
	Virus                  // a virus scanner found something
	Spam                   // spamd's opinion, spam or not (see Flagged)
)

// Finding is what one check reports. It says what was found, never what to
// do about it: that is Decide's job.
type Finding struct {
	Kind    Kind
	Scanner string // attach, regex, clamav, trophie, spam

	Name string // virus name, attachment name, filter number, limit

	// Spam results.
	Flagged   bool    // spamd says spam
	Score     float64 // spamd's score
	Required  float64 // spamd's threshold
	Processed string  // path of spamd's processed message, if any
}

// Check is one engine. Check returns an error only when it could not
// decide ("could not scan"); what that means is configuration.
type Check interface {
	Name() string
	Check(ctx context.Context, m *Message) (Finding, error)
}
