# sigward %post ($1: 1 = install, 2 or more = upgrade). Same behaviour as the
# .deb's postinst: register the unit and the catalog, enable on first
# install, start (install) or restart (upgrade). Guarded for chroots and
# image builds without a running systemd; never fails the transaction.
install -d -m 0755 /etc/sigward/keys.d /etc/sigward/policy.d
if command -v journalctl >/dev/null 2>&1; then
    journalctl --update-catalog >/dev/null 2>&1 || :
fi
if command -v systemctl >/dev/null 2>&1; then
    if [ "$1" -eq 1 ]; then
        systemctl enable sigward.service >/dev/null 2>&1 ||
            echo "sigward: could not enable sigward.service" >&2
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null 2>&1 || :
        if [ "$1" -eq 1 ]; then
            systemctl start sigward.service ||
                echo "sigward: sigward.service did not start: see journalctl -u sigward" >&2
        elif systemctl --quiet is-enabled sigward.service 2>/dev/null ||
            systemctl --quiet is-active sigward.service 2>/dev/null; then
            systemctl restart sigward.service ||
                echo "sigward: sigward.service did not restart: see journalctl -u sigward" >&2
        fi
    fi
fi
exit 0
