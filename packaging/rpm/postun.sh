# sigward %postun ($1: 0 = erase, 1 = upgrade). Forget the unit and the
# catalog entries after an erase. /etc/sigward/policy.toml is
# %config(noreplace): a modified policy is kept as policy.toml.rpmsave, and
# the operator's keys and drop-ins are never touched.
if [ "$1" -eq 0 ]; then
    if command -v journalctl >/dev/null 2>&1; then
        journalctl --update-catalog >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null 2>&1 || :
        systemctl reset-failed sigward.service >/dev/null 2>&1 || :
    fi
fi
exit 0
