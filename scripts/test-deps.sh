#!/bin/sh
# test-deps.sh: make sure the Debian packages that the integration tests need
# are installed. The tests start the real daemons themselves (see
# internal/testenv); this script only installs them and makes sure the
# install left none of them running as a system service.
#
# Quick and silent-ish when everything is present. As root it installs what
# is missing with apt-get; as another user it prints the command and fails.
set -eu

prog=test-deps

# package:binary pairs; the binary is what the tests run.
deps="clamav-daemon:clamd
spamd:spamd
spamc:spamc
qpsmtpd:qpsmtpd-forkserver
tinycdb:cdb
swaks:swaks
ucspi-tcp:tcprules"

# Services that installing the packages above may start, with the PID file
# that their Debian init scripts write.
services="clamav-freshclam:/run/clamav/freshclam.pid
clamav-daemon:/run/clamav/clamd.pid
spamd:/run/spamd.pid
qpsmtpd:/run/qpsmtpd/qpsmtpd.pid"

have_binary() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

is_installed() { # package binary
	if command -v dpkg-query >/dev/null 2>&1; then
		case "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" in
		"install ok installed") ;;
		*) return 1 ;;
		esac
	fi
	have_binary "$2"
}

missing_packages() {
	echo "$deps" | while IFS=: read -r pkg bin; do
		is_installed "$pkg" "$bin" || printf '%s ' "$pkg"
	done
}

missing=$(missing_packages)
if [ -z "$missing" ]; then
	echo "$prog: all test packages present"
	exit 0
fi

cmd="apt-get install -y --no-install-recommends $missing"
if [ "$(id -u)" != 0 ]; then
	echo "$prog: missing Debian packages: $missing" >&2
	echo "$prog: install them as root with:" >&2
	echo "  sudo DEBIAN_FRONTEND=noninteractive $cmd" >&2
	exit 1
fi

# Keep the packages' services from starting during the install: the tests run
# their own daemons on loopback and freshclam would try to reach the network.
# policy-rc.d is how Debian lets an administrator say so (invoke-rc.d and
# deb-systemd-invoke both honour it). Only put one in place if there is none.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# installed by simscan scripts/test-deps.sh for one apt-get run\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
fi
cleanup() {
	if [ -n "$own_policy" ]; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
echo "$prog: installing $missing"
# shellcheck disable=SC2086 # word splitting of the package list is wanted
if ! apt-get install -y --no-install-recommends $missing; then
	echo "$prog: install failed; updating the package lists and retrying"
	apt-get update
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
fi

# Stop any packaged service that got started anyway (for instance where a
# policy-rc.d of the administrator's allows it). This goes through the
# service manager, so only the system instances stop, never a daemon that a
# test started by hand.
echo "$services" | while IFS=: read -r svc pidfile; do
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		if systemctl is-active --quiet "$svc" 2>/dev/null; then
			echo "$prog: stopping service $svc"
			systemctl stop "$svc" || true
		fi
	elif [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "$prog: stopping service $svc"
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done

missing=$(missing_packages)
if [ -n "$missing" ]; then
	echo "$prog: still missing after install: $missing" >&2
	exit 1
fi
echo "$prog: all test packages present"
