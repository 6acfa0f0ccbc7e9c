#!/bin/sh
# Installs visord as a systemd service, or removes it: `make install`, `make uninstall`.
#
#   scripts/install.sh install      PREFIX/venv (its own venv: the daemon, no TensorFlow), PREFIX/models,
#                                   SYSCONFDIR/visord.yaml, SYSCONFDIR/credentials/, UNITDIR/visord.service;
#                                   then, on a live system, `systemctl enable` and (re)start
#   scripts/install.sh uninstall    removes all of that again, except a config the admin changed
#
# Environment: DESTDIR (a staging root: files only, no systemctl), PREFIX (/opt/visord), SYSCONFDIR
# (/etc/visord), UNITDIR (/etc/systemd/system), PYTHON (python3, 3.11 or later), MODELS (./models),
# PIP_ARGS (extra arguments for pip install).
#
# The config is a conffile, as dpkg treats one: the copy installed last is kept as PREFIX/visord.yaml.dist;
# an installed config still equal to it is replaced by the new one, a changed one is never touched (the
# new one goes beside it as visord.yaml.new), and `uninstall` leaves a changed one in place and says so.
set -eu
umask 022

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/visord}
SYSCONFDIR=${SYSCONFDIR:-/etc/visord}
UNITDIR=${UNITDIR:-/etc/systemd/system}
PYTHON=${PYTHON:-python3}
SOURCE=$(cd "$(dirname "$0")/.." && pwd)
MODELS=${MODELS:-$SOURCE/models}

root=$DESTDIR$PREFIX
etc=$DESTDIR$SYSCONFDIR
unit=$DESTDIR$UNITDIR/visord.service

say() { echo "visord: $*"; }

# systemctl only for a live install on a machine that runs systemd.
live_systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }

install_venv() {
    [ -x "$root/venv/bin/python" ] || "$PYTHON" -m venv "$root/venv"
    # Build from a copy of what the distribution needs: an in-tree build/ would carry stale modules along.
    build=$(mktemp -d)
    trap 'rm -rf "$build"' EXIT
    cp -R "$SOURCE/pyproject.toml" "$SOURCE/README.md" "$SOURCE/visord" "$build/"
    # shellcheck disable=SC2086 # PIP_ARGS is a list of arguments
    "$root/venv/bin/python" -m pip install --quiet --disable-pip-version-check ${PIP_ARGS:-} "$build"
    # With DESTDIR the venv's scripts name the staging path; on the target they must name PREFIX.
    if [ -n "$DESTDIR" ]; then
        grep -rlF "$root/venv" "$root/venv/bin" | while read -r file; do
            sed -i "s|$root/venv|$PREFIX/venv|g" "$file"
        done
    fi
}

install_config() {
    new=$SOURCE/config/visord.yaml
    mkdir -p "$etc"
    install -d -m 0700 "$etc/credentials"
    if [ ! -e "$etc/visord.yaml" ] || { [ -e "$root/visord.yaml.dist" ] && cmp -s "$etc/visord.yaml" "$root/visord.yaml.dist"; }; then
        install -m 0644 "$new" "$etc/visord.yaml"
        rm -f "$etc/visord.yaml.new"
    elif ! cmp -s "$etc/visord.yaml" "$new"; then
        install -m 0644 "$new" "$etc/visord.yaml.new"
        say "kept your changed $SYSCONFDIR/visord.yaml; the shipped one is $SYSCONFDIR/visord.yaml.new"
    fi
    install -m 0644 "$new" "$root/visord.yaml.dist"
}

install_files() {
    mkdir -p "$root" "$DESTDIR$UNITDIR"
    install -m 0644 "$SOURCE/README.md" "$SOURCE/ARCHITECTURE.md" "$root/"
    rm -rf "$root/docs"
    cp -R "$SOURCE/docs" "$root/docs"
    if [ -d "$MODELS" ]; then
        rm -rf "$root/models"
        cp -R "$MODELS" "$root/models"
    else
        say "no $MODELS: put models in $PREFIX/models (\`make models\` makes the demo ones) or name them in the config"
    fi
    sed -e "s|/opt/visord|$PREFIX|g" -e "s|/etc/visord|$SYSCONFDIR|g" "$SOURCE/systemd/visord.service" > "$unit"
    chmod 0644 "$unit"
}

do_install() {
    if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
        say "installing into / needs root (or DESTDIR=/some/staging/root)"
        exit 77
    fi
    install_files
    install_venv
    install_config
    say "installed in $DESTDIR$PREFIX, config $DESTDIR$SYSCONFDIR/visord.yaml, unit $unit"
    if live_systemd; then
        systemctl daemon-reload
        systemctl enable visord
        systemctl restart visord
        say "started: systemctl status visord"
    fi
}

do_uninstall() {
    if live_systemd; then
        systemctl disable --now visord || true
    fi
    rm -f "$unit" "$etc/visord.yaml.new"
    if [ -e "$etc/visord.yaml" ] && [ -e "$root/visord.yaml.dist" ] && cmp -s "$etc/visord.yaml" "$root/visord.yaml.dist"; then
        rm -f "$etc/visord.yaml"
    elif [ -e "$etc/visord.yaml" ]; then
        say "left $SYSCONFDIR/visord.yaml in place: it was changed after install"
    fi
    if [ -d "$etc/credentials" ]; then
        rmdir "$etc/credentials" 2>/dev/null || say "left $SYSCONFDIR/credentials/: it is not empty"
    fi
    rmdir "$etc" 2>/dev/null || true
    rm -rf "$root"
    if live_systemd; then
        systemctl daemon-reload
        say "removed; events and state stay in /var/lib/visord, logs in /var/log/visord"
    fi
}

case "${1:-}" in
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) echo "usage: $0 install|uninstall" >&2; exit 64 ;;
esac
