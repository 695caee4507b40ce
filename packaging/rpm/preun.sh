# sigward %preun ($1: 0 = erase, 1 = upgrade). Erasing stops and disables
# the agent; an upgrade leaves it running (%post of the new package
# restarts it).
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl stop sigward.service >/dev/null 2>&1 || :
    fi
    systemctl disable sigward.service >/dev/null 2>&1 || :
fi
exit 0
