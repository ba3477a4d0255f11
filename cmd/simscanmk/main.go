// Command simscanmk compiles simscan's per-domain rules and scanner
// versions into the cdb files simscan reads, as the C simscanmk does, and
// checks and explains those rules.
//
//	simscanmk                  build simcontrol.cdb from simcontrol
//	simscanmk -c               check simcontrol, change nothing
//	simscanmk -q FROM [TO...]  show the policy for an envelope, option by option
//	simscanmk -d               print the rules compiled into simcontrol.cdb
//	simscanmk -g               build simversions.cdb from the scanners' versions
//
// The files live in the control directory: /var/qmail/control unless set at
// build time, and SIMSCAN_CONTROLDIR overrides it. Files are replaced
// atomically, so simscan processes running meanwhile read either the old
// rules or the new ones. The simcontrol format is described in package
// github.com/gosimscan/simscan/control/rules.
package main

import (
	"os"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/control/rules"
)

// builtinControlDir is the control directory unless the build says
// otherwise.
const builtinControlDir = "/var/qmail/control"

// controlDir is the control directory, set at build time with
// -ldflags "-X main.controlDir=DIR". Left alone, the project-wide
// control.DefaultDir applies, which the Makefile sets from CONTROLDIR.
var controlDir = builtinControlDir

// version is simscan's version, set at build time with
// -ldflags "-X main.version=VERSION".
var version = "dev"

// scannerVersions returns the version strings simscanmk -g writes to
// simversions.cdb, keyed as in rules.VersionAttach and the other Version
// constants. This default knows only the scanners built into simscan
// itself; the daemon-asking code replaces it.
var scannerVersions = func(dir string) (map[string]string, error) {
	return map[string]string{
		rules.VersionAttach: version,
		rules.VersionRegex:  version,
	}, nil
}

// extraChecks are run by simscanmk -c after simcontrol is checked, each
// with the control directory; a check of simscan.conf belongs here.
// Problems of severity rules.Error make -c exit 1.
var extraChecks []func(dir string) []rules.Problem

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, &tool{
		controlDir: defaultControlDir(),
		getenv:     os.Getenv,
		versions:   scannerVersions,
		checks:     extraChecks,
	}))
}

func defaultControlDir() string {
	if controlDir != builtinControlDir {
		return controlDir
	}
	return control.DefaultDir
}
