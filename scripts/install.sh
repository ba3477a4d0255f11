#!/bin/sh
# install.sh install|uninstall: put simscan in place, or take it away.
# "make install" and "make uninstall" run it; it can also be run by hand
# after "make build".
#
# The locations come from the environment, as the Makefile exports them:
#   DESTDIR     prefix of every path written (packaging); default empty
#   QMAILDIR    qmail's directory; default /var/qmail
#   CONTROLDIR  simscan's control directory; default $QMAILDIR/control
#   WORKDIR     base of the work directories; default $QMAILDIR/simscan
#   SIMSCAN_USER, SIMSCAN_GROUP
#               the account simscan runs as; default simscan and simscan
# The binaries come from bin/ beside this script's directory.
#
# install (as root):
#   - creates the simscan group and user if missing (a system account
#     without a login shell, home $WORKDIR);
#   - installs simscan setuid simscan (mode 4711) and simscanmk and
#     simscanctl root-owned 0755 in $QMAILDIR/bin, each through a
#     temporary name and a rename, so a running qmail-smtpd never sees a
#     half-written binary;
#   - makes $WORKDIR simscan:simscan mode 2750, fixing it if it exists;
#   - puts simscan.conf, simcontrol and ssattach into $CONTROLDIR from
#     contrib/ only where no such file exists; an existing file is never
#     replaced.
# uninstall removes the three binaries and nothing else.

set -eu

prog=install.sh
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=$here/bin
contrib=$here/contrib

DESTDIR=${DESTDIR:-}
QMAILDIR=${QMAILDIR:-/var/qmail}
CONTROLDIR=${CONTROLDIR:-$QMAILDIR/control}
WORKDIR=${WORKDIR:-$QMAILDIR/simscan}

die() {
	echo "$prog: $*" >&2
	exit 1
}

say() {
	echo "$prog: $*"
}

usage() {
	echo "usage: $prog install|uninstall" >&2
	exit 2
}

user=${SIMSCAN_USER:-simscan}
group=${SIMSCAN_GROUP:-simscan}
case $user$group in
*[!a-z0-9_-]*) die "SIMSCAN_USER and SIMSCAN_GROUP must be plain lower-case names" ;;
esac

# Paths must be absolute: CONTROLDIR is compiled into simscan, WORKDIR and
# QMAILDIR may be written into simscan.conf, all are given to mkdir and
# chown.
for v in QMAILDIR CONTROLDIR WORKDIR; do
	eval "p=\$$v"
	case $p in
	/?*) ;;
	*) die "$v must be an absolute path, not '$p'" ;;
	esac
done
case $DESTDIR in
'' | /*) ;;
*) die "DESTDIR must be empty or an absolute path, not '$DESTDIR'" ;;
esac

# nologin finds the shell for the simscan account.
nologin() {
	for s in /usr/sbin/nologin /sbin/nologin /usr/bin/false /bin/false; do
		if [ -x "$s" ]; then
			echo "$s"
			return
		fi
	done
	echo /bin/false
}

make_account() {
	if ! getent group "$group" >/dev/null; then
		if command -v groupadd >/dev/null; then
			groupadd -r "$group"
		elif command -v addgroup >/dev/null; then
			addgroup --system "$group"
		else
			die "cannot create group $group: neither groupadd nor addgroup found"
		fi
		say "created group $group"
	fi
	if ! getent passwd "$user" >/dev/null; then
		shell=$(nologin)
		if command -v useradd >/dev/null; then
			useradd -r -g "$group" -d "$WORKDIR" -M -s "$shell" -c "simscan content scanner" "$user"
		elif command -v adduser >/dev/null; then
			adduser --system --ingroup "$group" --home "$WORKDIR" --no-create-home --shell "$shell" "$user"
		else
			die "cannot create user $user: neither useradd nor adduser found"
		fi
		say "created user $user (group $group, home $WORKDIR, shell $shell)"
	fi
}

# put_binary NAME OWNER MODE: install bin/NAME into $DESTDIR$QMAILDIR/bin.
put_binary() {
	name=$1 owner=$2 mode=$3
	dir=$DESTDIR$QMAILDIR/bin
	tmp=$dir/.$name.install.$$
	rm -f "$tmp"
	cp "$bindir/$name" "$tmp"
	# chown clears set-id bits, so the mode comes after it.
	if ! chown "$owner" "$tmp" || ! chmod "$mode" "$tmp"; then
		rm -f "$tmp"
		die "cannot set owner $owner and mode $mode on $tmp"
	fi
	mv -f "$tmp" "$dir/$name"
	say "installed $dir/$name (owner $owner, mode $mode)"
}

# put_example SRC NAME: create $DESTDIR$CONTROLDIR/NAME from SRC unless
# it exists. The file is written under a temporary name and linked into
# place: ln fails rather than replace a file that appeared meanwhile.
put_example() {
	src=$1 name=$2
	dst=$DESTDIR$CONTROLDIR/$name
	if [ -e "$dst" ] || [ -L "$dst" ]; then
		say "kept existing $dst"
		return
	fi
	tmp=$DESTDIR$CONTROLDIR/.$name.install.$$
	rm -f "$tmp"
	cat "$src" >"$tmp"
	chown root:0 "$tmp"
	chmod 0644 "$tmp"
	if ln "$tmp" "$dst" 2>/dev/null; then
		say "created $dst"
	else
		say "kept existing $dst"
	fi
	rm -f "$tmp"
}

# conf_example writes contrib/simscan.conf.example to stdout with the
# workdir and qmailqueue lines set when the locations differ from the
# defaults simscan assumes.
conf_example() {
	if [ "$WORKDIR" = /var/qmail/simscan ] && [ "$QMAILDIR" = /var/qmail ]; then
		cat "$contrib/simscan.conf.example"
		return
	fi
	awk -v workdir="$WORKDIR" -v queue="$QMAILDIR/bin/qmail-queue" '
		$0 == "#workdir = /var/qmail/simscan" && workdir != "/var/qmail/simscan" {
			print "# Set by install.sh from WORKDIR."
			print "workdir = " workdir
			next
		}
		$0 == "#qmailqueue = /var/qmail/bin/qmail-queue" && queue != "/var/qmail/bin/qmail-queue" {
			print "# Set by install.sh from QMAILDIR."
			print "qmailqueue = " queue
			next
		}
		{ print }
	' "$contrib/simscan.conf.example"
}

install_all() {
	if [ "$(id -u)" != 0 ]; then
		die "must be run as root: it creates the $user user and installs simscan setuid $user (try: sudo make install)"
	fi
	for b in simscan simscanmk simscanctl; do
		[ -f "$bindir/$b" ] || die "$bindir/$b is missing: run make build first"
	done
	for f in simscan.conf.example simcontrol.example ssattach.example; do
		[ -f "$contrib/$f" ] || die "$contrib/$f is missing"
	done

	make_account

	mkdir -p "$DESTDIR$QMAILDIR/bin"
	put_binary simscan "$user:$group" 4711
	put_binary simscanmk root:0 0755
	put_binary simscanctl root:0 0755
	if command -v findmnt >/dev/null &&
		findmnt -n -o OPTIONS -T "$DESTDIR$QMAILDIR/bin" 2>/dev/null | tr , '\n' | grep -qx nosuid; then
		say "warning: $DESTDIR$QMAILDIR/bin is on a nosuid file system: simscan will not run as $user there"
	fi

	w=$DESTDIR$WORKDIR
	if [ -d "$w" ]; then
		say "work directory $w exists; setting owner $user:$group, mode 2750"
	else
		mkdir -p "$w"
		say "created work directory $w (owner $user:$group, mode 2750)"
	fi
	chown "$user:$group" "$w"
	chmod 2750 "$w"

	mkdir -p "$DESTDIR$CONTROLDIR"
	tmpconf=$(mktemp)
	trap 'rm -f "$tmpconf"' EXIT
	conf_example >"$tmpconf"
	put_example "$tmpconf" simscan.conf
	put_example "$contrib/simcontrol.example" simcontrol
	put_example "$contrib/ssattach.example" ssattach
	rm -f "$tmpconf"
	trap - EXIT

	say "done. Next: set clamd and spamd in $CONTROLDIR/simscan.conf,"
	say "  run $QMAILDIR/bin/simscanmk after editing $CONTROLDIR/simcontrol,"
	say "  and set QMAILQUEUE=$QMAILDIR/bin/simscan for qmail-smtpd (contrib/README.md)"
	if [ -S /var/run/clamav/clamd.ctl ]; then
		say "  (clamd listens on /var/run/clamav/clamd.ctl: clamd = unix:/var/run/clamav/clamd.ctl)"
	fi
}

uninstall_all() {
	status=0
	for b in simscan simscanmk simscanctl; do
		f=$DESTDIR$QMAILDIR/bin/$b
		if [ -e "$f" ] || [ -L "$f" ]; then
			if rm -f "$f"; then
				say "removed $f"
			else
				status=1
			fi
		else
			say "$f was not installed"
		fi
	done
	say "left alone: the control files in $DESTDIR$CONTROLDIR (simscan.conf, simcontrol, simcontrol.cdb, ssattach),"
	say "  the work directory $DESTDIR$WORKDIR, any quarantine_dir named in simscan.conf,"
	say "  and the $user user and group; remove them by hand if you no longer want them"
	say "make sure no QMAILQUEUE setting (tcp.smtp, qmail-smtpd's run script) still names $QMAILDIR/bin/simscan:"
	say "  qmail-smtpd would answer every message with a temporary failure"
	return $status
}

[ $# -eq 1 ] || usage
case $1 in
install) install_all ;;
uninstall) uninstall_all ;;
*) usage ;;
esac
