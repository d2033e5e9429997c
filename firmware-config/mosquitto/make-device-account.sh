#!/usr/bin/env bash
# Creates (or resets) the broker account of one omnigate device: a random password hashed into Mosquitto's
# password file with mosquitto_passwd, and the device's ACL block (its own topics in its own store only).
#
#   make-device-account.sh STORE_ID DEVICE_ID [PASSWORD_FILE] [ACL_FILE]
#
# Prints the password once on stdout: put it in the device's mqtt.password_file (mode 0600, owned by the
# omnigate user). Then reload the broker: `systemctl reload mosquitto` (or `kill -HUP` its pid).
# Ids: letters, digits, '-' and '_' only (what omnigate's config accepts), so they are safe in topics.
set -euo pipefail

usage() { echo "usage: $0 STORE_ID DEVICE_ID [PASSWORD_FILE] [ACL_FILE]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 4 ] || usage
store=$1
device=$2
passwd_file=${3:-/etc/mosquitto/omnigate.passwd}
acl_file=${4:-/etc/mosquitto/omnigate.acl}
id_re='^[A-Za-z0-9_-]{1,64}$'
[[ $store =~ $id_re ]] || { echo "$0: store id '$store': letters, digits, - and _ only" >&2; exit 2; }
[[ $device =~ $id_re ]] || { echo "$0: device id '$device': letters, digits, - and _ only" >&2; exit 2; }
[ "$device" != central ] || { echo "$0: 'central' is central's account, not a device" >&2; exit 2; }
command -v mosquitto_passwd >/dev/null || { echo "$0: mosquitto_passwd not found (package mosquitto)" >&2; exit 1; }

# 24 random bytes, base64 without '/', '+' or '=' so it pastes anywhere.
password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')

# The password goes through stdin, never on a command line (visible in ps). -c only for a new file.
create=()
[ -e "$passwd_file" ] || create=(-c)
printf '%s\n%s\n' "$password" "$password" | mosquitto_passwd "${create[@]}" "$passwd_file" "$device" >/dev/null

# The ACL block, once per device (a reset keeps it). A device moved to another store: remove its block first.
if grep -qx "user $device" "$acl_file" 2>/dev/null; then
    if ! grep -qx "topic write omnigate/v1/stores/$store/devices/$device/events" "$acl_file"; then
        echo "$0: $acl_file has a block for $device in another store; remove it first" >&2
        exit 1
    fi
else
    prefix="omnigate/v1/stores/$store"
    {
        echo
        echo "user $device"
        echo "topic write $prefix/devices/$device/events"
        echo "topic write $prefix/devices/$device/status"
        echo "topic read $prefix/devices/$device/commands"
        echo "topic read $prefix/catalog/#"
    } >>"$acl_file"
fi
echo "$password"
