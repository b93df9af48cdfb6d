#!/usr/bin/env bash
# Install everything tcp-handoff needs on a fresh Debian 12 machine.
# Idempotent and quiet when all is present; ends with one clear line on failure.
set -euo pipefail

BINDGEN_VERSION=${BINDGEN_VERSION:-0.71.1}
# nginx: the handoff suite's unmodified web server (sendfile + epoll), run in
# the VM with its own config (Debian 12's nginx-light is a transitional
# package that pulls nginx and an extra module; nginx alone suffices).
APT_PACKAGES=(
	linux-source-6.12 rustc-web rust-web-src libclang-dev clang lld llvm
	bc flex bison libelf-dev libssl-dev cpio xz-utils kmod
	qemu-system-x86 iproute2 iputils-ping busybox-static procps ethtool
	python3 valgrind nginx
)

die() { echo "deps: $*" >&2; exit 1; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# docutils checks Documentation/ (xtask/tests/docs.rs); any install of it will do.
python3 -c 'import docutils' 2>/dev/null || missing+=(python3-docutils)
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}): run 'sudo scripts/deps.sh'"
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || die "apt-get update failed: check access to the Debian mirror"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
		|| die "apt-get install ${missing[*]} failed: run it by hand to see why"
fi

[ -x /usr/bin/rustc ] || die "/usr/bin/rustc missing after installing rustc-web"
[ -f /usr/src/linux-source-6.12.tar.xz ] || die "/usr/src/linux-source-6.12.tar.xz missing: reinstall linux-source-6.12"

# The style gates (xtask/tests/style.rs) need rustup's rustfmt and clippy.
CARGO_BIN=${CARGO_HOME:-${HOME:-/root}/.cargo}/bin
for tool in rustfmt:rustfmt cargo-clippy:clippy; do
	[ -x "$CARGO_BIN/${tool%%:*}" ] && continue
	echo "deps: adding rustup component ${tool#*:}"
	"$CARGO_BIN/rustup" component add "${tool#*:}" >/dev/null \
		|| die "rustup component add ${tool#*:} failed"
done

BINDGEN=${CARGO_HOME:-${HOME:-/root}/.cargo}/bin/bindgen
if ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	echo "deps: installing bindgen-cli $BINDGEN_VERSION from crates.io"
	PATH="${CARGO_HOME:-${HOME:-/root}/.cargo}/bin:$PATH" cargo install --locked --quiet --version "$BINDGEN_VERSION" bindgen-cli \
		|| die "cargo install bindgen-cli@$BINDGEN_VERSION failed: check crates.io access"
fi
