// Package install holds the install tests: they run "make install" and
// "make uninstall" (scripts/install.sh) as root into a temporary qmail
// directory, check the owners and modes of what was installed, and then run
// the installed setuid simscan as an unprivileged user, as qmail-smtpd
// would, to check that nothing the caller controls (environment, arguments,
// signals) changes what simscan reads or runs or exposes a message.
//
// The package has no code of its own; the tests need root.
package install
