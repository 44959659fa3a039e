# Sourced by scripts/test before the interop tier: the real senders the interop tests drive, each from
# Debian or PyPI, never built here. Python senders whose pins clash with ours get their own
# virtualenv under .venv-peers/ (remade when the sender no longer imports).
#   AirPlay   pyatv 0.13.0 and latest (srptools<2), PulseAudio's RAOP sink; shairport-sync (the tests copy
#             the AirPort Express RSA key out of its binary for et=1; bench/airplay_audio.py runs it as the
#             reference receiver in a namespace of its own). Its service (and avahi-daemon's, when the install
#             brings it) is masked first: neither must run on the host.
#   Miracast  gnome-network-displays 0.90.5 under Xvfb + xdotool, fluxcast 0.2.9 (top-level packages
#             wfd, main, server...: never in .venv-test; --no-deps: its RTSP server needs none of them)
#   browser   Chromium driven by Playwright (no browser download), coturn for TURN
install_interop_peers() {
    if [ -d /run/systemd/system ]; then  # units only masked when this install brings them (CI machines)
        local sudo="" unit; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        dpkg-query -W shairport-sync >/dev/null 2>&1 || $sudo systemctl mask shairport-sync.service >/dev/null 2>&1 || true
        if ! dpkg-query -W avahi-daemon >/dev/null 2>&1; then  # shairport-sync depends on it
            for unit in avahi-daemon.service avahi-daemon.socket; do $sudo systemctl mask "$unit" >/dev/null 2>&1 || true; done
        fi
    fi
    ensure_debian_packages shairport-sync
    ensure_debian_packages pulseaudio pulseaudio-utils pulseaudio-module-raop \
        gnome-network-displays xvfb xdotool dbus-x11 gstreamer1.0-libav \
        chromium coturn
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1  # Playwright drives /usr/bin/chromium; never 'playwright install'
    make_peer_venv pyatv-0.13.0 pyatv "pyatv==0.13.0" "srptools<2"
    make_peer_venv pyatv-latest pyatv pyatv "srptools<2"
    make_peer_venv fluxcast wfd --no-deps "fluxcast==0.2.9"
}

make_peer_venv() {  # folder under .venv-peers, a module that must import, then pip arguments
    local dir=".venv-peers/$1" module=$2; shift 2
    if ! "$dir/bin/python" -c "import $module" >/dev/null 2>&1; then
        rm -rf "$dir"
        python3 -m venv "$dir"
        "$dir/bin/pip" install -q "$@"
    fi
}
