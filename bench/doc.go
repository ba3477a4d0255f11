// Package bench holds simscan's benchmark matrix and soak test, and the
// test messages both of them send.
//
// The matrix is the command in bench/cmd/simscanbench, run by "make bench"
// (scripts/bench.sh starts the test clamd and spamd for it); bench/README.md
// explains its table. The soak test, TestSoak, sends a mix of clean, virus,
// spam, banned-attachment and malformed messages over SMTP through qpsmtpd
// to simscan, with the real clamd and spamd, and checks what arrived at the
// recording qmail-queue; "make soak" runs it with 5,000 messages and every
// "go test ./..." with a few hundred.
//
// The messages are built in code, deterministically from a seed, with LF
// line ends as qmail-queue receives them (RFC 5322 syntax, RFC 2045 and
// RFC 2046 MIME structure).
package bench
