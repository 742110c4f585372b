#!/bin/sh
# Installs an Entrepot release for this machine's OS and architecture:
# the binary in /opt/entrepot/ with a symlink in /usr/local/bin, and with
# --setup-service the `entrepot` system user, /var/lib/entrepot,
# /etc/entrepot/entrepot.env (mode 0600, secrets generated) and the
# systemd unit, enabled and started. Running it twice changes nothing; an
# upgrade (a newer --version) replaces the binary and the unit and keeps
# the data and the environment file.
#
#   install.sh --from URL|DIR [--version V] [--setup-service]
#   install.sh --uninstall [--purge]
#
#   --from URL|DIR   where the release is: a directory (or base URL) holding
#                    entrepot-V-OS-ARCH.tar.gz and SHA256SUMS, as `make
#                    release` writes them; default $ENTREPOT_RELEASES.
#                    "{version}" in it is replaced by the version.
#   --version V      which release (default: the one SHA256SUMS lists).
#   --setup-service  create the user, data directory, environment file and
#                    systemd unit; enable and start it.
#   --prefix DIR     install under DIR as the root (staging, images, tests):
#                    no user is created, nothing is chowned or started.
#   --uninstall      stop and remove the service, binary and symlink; the
#                    data and /etc/entrepot stay unless --purge is given.
set -eu

from=${ENTREPOT_RELEASES:-}
version=
prefix=
service=
uninstall=
purge=
while [ $# -gt 0 ]; do
	case $1 in
	--from) from=$2; shift ;;
	--from=*) from=${1#*=} ;;
	--version) version=$2; shift ;;
	--version=*) version=${1#*=} ;;
	--prefix) prefix=$2; shift ;;
	--prefix=*) prefix=${1#*=} ;;
	--setup-service) service=1 ;;
	--uninstall) uninstall=1 ;;
	--purge) purge=1 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
prefix=${prefix%/}
say() { echo "entrepot: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

opt=$prefix/opt/entrepot
link=$prefix/usr/local/bin/entrepot
etc=$prefix/etc/entrepot
envfile=$etc/entrepot.env
data=$prefix/var/lib/entrepot
unit=$prefix/etc/systemd/system/entrepot.service

# The service manager is only driven on the real root with systemd running.
live() { [ -z "$prefix" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

if [ -n "$uninstall" ]; then
	if live && [ -e "$unit" ]; then
		systemctl disable --now entrepot.service || true
	fi
	rm -f "$unit" "$link"
	rm -rf "$opt"
	live && systemctl daemon-reload || true
	if [ -n "$purge" ]; then
		rm -rf "$data" "$etc"
		say "removed, with its data and configuration"
	else
		say "removed; kept $data and $etc (--purge removes them)"
	fi
	exit 0
fi

[ -n "$from" ] || die "--from URL|DIR (or ENTREPOT_RELEASES) is needed: where the release archives are"

case $(uname -s) in
Linux) os=linux ;;
Darwin) os=darwin ;;
*) die "unsupported OS $(uname -s)" ;;
esac
case $(uname -m) in
x86_64|amd64) arch=amd64 ;;
aarch64|arm64) arch=arm64 ;;
*) die "unsupported architecture $(uname -m)" ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fetch NAME: copies or downloads NAME of the release into $tmp.
fetch() {
	src=$(echo "$from" | sed "s|{version}|$version|g")
	case $src in
	http://*|https://*)
		if command -v curl >/dev/null 2>&1; then
			curl -fsSL -o "$tmp/$1" "${src%/}/$1"
		else
			wget -q -O "$tmp/$1" "${src%/}/$1"
		fi || die "cannot download ${src%/}/$1" ;;
	*) cp "$src/$1" "$tmp/$1" 2>/dev/null || die "no $1 in $src" ;;
	esac
}

case $from in *"{version}"*) [ -n "$version" ] || die "--from has {version}: --version is needed" ;; esac
fetch SHA256SUMS
if [ -z "$version" ]; then
	version=$(sed -n "s/^[0-9a-f]* [ *]entrepot-\(.*\)-$os-$arch\.tar\.gz$/\1/p" "$tmp/SHA256SUMS" | sort -V | tail -n 1)
	[ -n "$version" ] || die "SHA256SUMS lists no release for $os/$arch"
fi
name=entrepot-$version-$os-$arch
grep " [ *]$name.tar.gz\$" "$tmp/SHA256SUMS" >"$tmp/sum" || die "SHA256SUMS lists no $name.tar.gz"
fetch "$name.tar.gz"
if command -v sha256sum >/dev/null 2>&1; then
	(cd "$tmp" && sha256sum -c sum >/dev/null 2>&1)
else
	(cd "$tmp" && shasum -a 256 -c sum >/dev/null 2>&1)
fi || die "$name.tar.gz does not match its SHA-256 in SHA256SUMS: not installed"
tar -xzf "$tmp/$name.tar.gz" -C "$tmp"
new=$tmp/$name

# put SRC DEST MODE: installs SRC as DEST atomically, unless it is already
# there with those bytes (then DEST is left as it is, mtime included).
put() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		return 1
	fi
	mkdir -p "$(dirname "$2")"
	{ cp "$1" "$2.new" && chmod "$3" "$2.new" && mv -f "$2.new" "$2"; } || die "cannot write $2"
}

changed=
put "$new/entrepot" "$opt/entrepot" 0755 && changed=1
put "$new/README.md" "$opt/README.md" 0644 || true
put "$new/deploy/systemd/entrepot.service" "$opt/entrepot.service" 0644 || true
if [ "$(readlink "$link" 2>/dev/null)" != /opt/entrepot/entrepot ]; then
	mkdir -p "$(dirname "$link")"
	ln -sfn /opt/entrepot/entrepot "$link"
fi
if [ -n "$changed" ]; then say "installed $version in $opt"; else say "$version is already installed"; fi

[ -n "$service" ] || exit 0

if [ -z "$prefix" ]; then
	if ! id entrepot >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/entrepot --no-create-home --shell /usr/sbin/nologin entrepot
		say "created the system user entrepot"
	fi
else
	say "--prefix: the system user entrepot is not created"
fi
if [ ! -d "$data" ]; then
	mkdir -p "$data"
	chmod 0750 "$data"
	[ -n "$prefix" ] || chown entrepot:entrepot "$data"
fi

# The environment file is written once: an upgrade keeps what the
# operator set. Its secrets are the ones the embedded store would
# otherwise generate into the data directory, and the first admin's
# password, which the server would otherwise print to the journal.
if [ ! -e "$envfile" ]; then
	hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
	mkdir -p "$etc"
	chmod 0750 "$etc"
	: >"$envfile.new"
	chmod 0600 "$envfile.new"
	cat >>"$envfile.new" <<-EOF
	# Entrepot settings: \`entrepot serve --help\` lists every variable.
	# DATA_DIR is set by the unit (/var/lib/entrepot).
	HOST=0.0.0.0
	PORT=3000
	# PUBLIC_URL=https://registry.example.com
	SHUTDOWN_TIMEOUT=30s
	# Blob garbage collection: how often, and how old unreferenced blobs
	# must be before they go (README: Storage lifecycle).
	# GC_INTERVAL=24h
	# GC_GRACE=24h
	JWT_SECRET=$(hex 32)
	AUTH_ENCRYPTION_KEY=$(hex 32)
	# The password of the platform admin "admin", used on the first start.
	ADMIN_PASSWORD=$(hex 16)
	EOF
	[ -n "$prefix" ] || chown root:entrepot "$etc"
	mv "$envfile.new" "$envfile"
	say "wrote $envfile (mode 0600; the admin password is in it)"
fi

unitchanged=
put "$new/deploy/systemd/entrepot.service" "$unit" 0644 && unitchanged=1
if live; then
	[ -z "$unitchanged" ] || systemctl daemon-reload
	systemctl enable entrepot.service >/dev/null 2>&1
	if [ -n "$changed$unitchanged" ]; then
		systemctl restart entrepot.service
	else
		systemctl start entrepot.service
	fi
	say "service entrepot enabled and running (journalctl -u entrepot)"
else
	say "systemd is not driven here: enable it with systemctl enable --now entrepot"
fi
