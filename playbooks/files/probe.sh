#!/bin/sh
# PodWarden host probe, probe_version 1.
#
# Prints ONE JSON document on stdout describing this machine. Parsed by
# podwarden.engine.parsers.probe.parse_probe_output().
#
# Rules:
#   * POSIX sh only (runs under dash); no sudo; nothing is written anywhere.
#   * A missing tool never makes the probe fail: ip, lsblk, lspci, nvidia-smi,
#     systemctl, lscpu, sort and timeout are all optional.
#     Required: cat, sed, tr, grep, uname (plus the shell builtins).
#   * Tool output is emitted as raw text (or, for `ip -j` and `lsblk -J`, as the
#     tool's own JSON, embedded as-is); Python does the parsing.
#   * stderr is noise and may be ignored by the caller.
#
# Top-level keys: probe_version, hostname, fqdn, kernel, arch, os, cpu,
# memory_bytes, disks, gpus, network, kubernetes (see the parser's docstring).
#
# PODWARDEN_PROBE_EXTRA_PATH (default /usr/local/sbin:/usr/sbin:/sbin) is
# appended to PATH, because non-root SSH sessions often lack the sbin folders
# where `ip` lives. Set it to an empty string to leave PATH alone (tests).

: "${PODWARDEN_PROBE_EXTRA_PATH=/usr/local/sbin:/usr/sbin:/sbin}"
if [ -n "$PODWARDEN_PROBE_EXTRA_PATH" ]; then
    PATH="$PATH:$PODWARDEN_PROBE_EXTRA_PATH"
fi
export PATH
LC_ALL=C
export LC_ALL
set -f # no globbing on unquoted expansions; re-enabled where needed

TAB=$(printf '\t')
CR=$(printf '\r')
NL='
'

have() {
    command -v "$1" >/dev/null 2>&1
}

# json_str TEXT -> a JSON string literal (with the quotes). Escapes backslash,
# double quote, tab, CR and newlines; drops the other control characters.
# Plain printable ASCII without \ or " needs no escaping: skip the pipeline (saves
# about half the forks of a probe).
json_str() {
    case $1 in
    *[!\ -~]* | *[\\\"]* ) ;;
    *)
        printf '"%s"' "$1"
        return
        ;;
    esac
    printf '"'
    printf '%s' "$1" |
        tr -d '\000-\010\013\014\016-\037' |
        sed -e 's/\\/\\\\/g' \
            -e 's/"/\\"/g' \
            -e "s/$TAB/\\\\t/g" \
            -e "s/$CR/\\\\r/g" \
            -e '$!s/$/\\n/' |
        tr -d '\n'
    printf '"'
}

# json_str_or_null TEXT -> JSON string, or null when TEXT is empty.
json_str_or_null() {
    if [ -z "$1" ]; then
        printf 'null'
    else
        json_str "$1"
    fi
}

# json_int TEXT -> TEXT when it is a non-negative integer, else null.
json_int() {
    case $1 in
    '' | *[!0-9]*) printf 'null' ;;
    *) printf '%s' "$1" ;;
    esac
}

# json_bool VALUE -> true when VALUE is "true" or "1", else false.
json_bool() {
    case $1 in
    true | 1) printf 'true' ;;
    *) printf 'false' ;;
    esac
}

# read_line FILE -> first line of FILE without forking (empty when unreadable).
read_line() {
    _line=''
    if [ -r "$1" ]; then
        IFS= read -r _line <"$1" 2>/dev/null
    fi
    printf '%s' "$_line"
}

# ---------------------------------------------------------------- identity ---

hostname=$(read_line /proc/sys/kernel/hostname)
[ -n "$hostname" ] || hostname=$(uname -n 2>/dev/null)

# FQDN without DNS (hostname -f may block on a broken resolver): the hostname
# itself when dotted, else a dotted alias of it in /etc/hosts.
fqdn=''
case $hostname in
*.*) fqdn=$hostname ;;
esac
if [ -z "$fqdn" ] && [ -n "$hostname" ] && [ -r /etc/hosts ]; then
    while read -r _addr _names; do
        case $_addr in '' | '#'*) continue ;; esac
        _names=${_names%%#*}
        case " $_names " in
        *" $hostname "* | *" $hostname."*)
            for _n in $_names; do
                case $_n in
                "$hostname".?*)
                    fqdn=$_n
                    break
                    ;;
                esac
            done
            ;;
        esac
        [ -n "$fqdn" ] && break
    done </etc/hosts
fi

kernel=$(uname -r 2>/dev/null)
arch=$(uname -m 2>/dev/null)

# ---------------------------------------------------------------------- os ---

os_release=/etc/os-release
[ -r "$os_release" ] || os_release=/usr/lib/os-release

# os_field KEY -> value of KEY in os-release, quotes and escapes removed.
os_field() {
    [ -r "$os_release" ] || return 0
    sed -n "s/^$1=//p" "$os_release" 2>/dev/null |
        sed -n -e '1{' \
            -e 's/^"\(.*\)"$/\1/' -e 't unesc' \
            -e "s/^'\\(.*\\)'\$/\\1/" -e 'p' -e 'q' \
            -e ':unesc' -e 's/\\\(.\)/\1/g' -e 'p' -e 'q' -e '}'
}

os_id=$(os_field ID)
os_version_id=$(os_field VERSION_ID)
os_pretty_name=$(os_field PRETTY_NAME)
os_name=$(os_field NAME)

# --------------------------------------------------------------------- cpu ---

cpuinfo=''
[ -r /proc/cpuinfo ] && cpuinfo=$(cat /proc/cpuinfo 2>/dev/null)

# cpuinfo_field REGEX -> value of the first cpuinfo line whose key matches.
cpuinfo_field() {
    printf '%s\n' "$cpuinfo" |
        sed -n "/^$1[[:space:]]*:/{s/^[^:]*:[[:space:]]*//;s/[[:space:]]*\$//;p;q;}"
}

cpu_model=$(cpuinfo_field 'model name')
if [ -z "$cpu_model" ] && have lscpu; then
    cpu_model=$(lscpu 2>/dev/null | sed -n '/^Model name:/{s/^Model name:[[:space:]]*//;p;q;}')
fi
for _key in Hardware Processor 'cpu model' uarch cpu; do
    [ -n "$cpu_model" ] && break
    cpu_model=$(cpuinfo_field "$_key")
done

cpu_cores=$(printf '%s\n' "$cpuinfo" | grep -c '^processor[[:space:]]*:')
case $cpu_cores in '' | 0 | *[!0-9]*) cpu_cores='' ;; esac
if [ -z "$cpu_cores" ] && have getconf; then
    cpu_cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null)
fi

cpu_sockets=''
if have sort; then
    cpu_sockets=$(printf '%s\n' "$cpuinfo" |
        sed -n 's/^physical id[[:space:]]*:[[:space:]]*//p' | sort -u | grep -c .)
    if [ "$cpu_sockets" = 0 ] && [ -d /sys/devices/system/cpu ]; then
        set +f
        cpu_sockets=$(cat /sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id 2>/dev/null |
            grep -v '^-' | sort -u | grep -c .)
        set -f
    fi
    [ "$cpu_sockets" = 0 ] && cpu_sockets=''
fi

# ------------------------------------------------------------------ memory ---

mem_kb=''
[ -r /proc/meminfo ] &&
    mem_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9][0-9]*\)[[:space:]]*kB.*/\1/p' /proc/meminfo 2>/dev/null)
memory_bytes=''
case $mem_kb in
'' | *[!0-9]*) ;;
*) memory_bytes=$((mem_kb * 1024)) ;;
esac

# ------------------------------------------------------------------- disks ---

disks_source=none
disks_lsblk=''
if have lsblk; then
    _out=$(lsblk -b -J -d -o NAME,SIZE,TYPE,ROTA,MODEL 2>/dev/null)
    case $_out in
    '{'*'}')
        disks_lsblk=$_out
        disks_source=lsblk
        ;;
    esac
fi

# sysfs_disks -> JSON array of {name, size_bytes, rotational, removable, model}.
sysfs_disks() {
    printf '['
    _sep=''
    set +f
    for _dir in /sys/block/*; do
        [ -d "$_dir" ] || continue
        _name=${_dir##*/}
        _sectors=$(read_line "$_dir/size")
        _size=''
        case $_sectors in '' | *[!0-9]*) ;; *) _size=$((_sectors * 512)) ;; esac
        _rota=$(read_line "$_dir/queue/rotational")
        _rem=$(read_line "$_dir/removable")
        _model=$(read_line "$_dir/device/model")
        printf '%s{"name":%s,"size_bytes":%s,"rotational":%s,"removable":%s,"model":%s}' \
            "$_sep" "$(json_str "$_name")" "$(json_int "$_size")" \
            "$(if [ -n "$_rota" ]; then json_bool "$_rota"; else printf null; fi)" \
            "$(json_bool "$_rem")" "$(json_str_or_null "$_model")"
        _sep=','
    done
    set -f
    printf ']'
}

# -------------------------------------------------------------------- gpus ---

nvidia_smi=''
nvidia_smi_rc=''
if have nvidia-smi; then
    if have timeout; then
        nvidia_smi=$(timeout 20 nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>&1)
    else
        nvidia_smi=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits 2>&1)
    fi
    nvidia_smi_rc=$?
fi

# Display controllers (PCI class 03xx: VGA, XGA, 3D, other display).
lspci_lines=''
lspci_present=false
if have lspci; then
    lspci_present=true
    lspci_lines=$(lspci -mm -nn 2>/dev/null | grep '^[^"]*"[^"]*\[03[0-9a-fA-F][0-9a-fA-F]\]"')
fi

# ----------------------------------------------------------------- network ---

net_source=none
ip_json=''
ip_addr=''
ip_link=''
if have ip; then
    _out=$(ip -j addr show 2>/dev/null)
    case $_out in
    '['*']')
        ip_json=$_out
        net_source=ip-json
        ;;
    *)
        ip_addr=$(ip -o addr show 2>/dev/null)
        ip_link=$(ip -o link show 2>/dev/null)
        [ -n "$ip_addr$ip_link" ] && net_source=ip-oneline
        ;;
    esac
fi

# sysfs_net -> JSON array of {name, mac, operstate, flags} from /sys/class/net.
sysfs_net() {
    printf '['
    _sep=''
    set +f
    for _dir in /sys/class/net/*; do
        [ -d "$_dir" ] || continue
        printf '%s{"name":%s,"mac":%s,"operstate":%s,"flags":%s}' "$_sep" \
            "$(json_str "${_dir##*/}")" \
            "$(json_str_or_null "$(read_line "$_dir/address")")" \
            "$(json_str_or_null "$(read_line "$_dir/operstate")")" \
            "$(json_str_or_null "$(read_line "$_dir/flags")")"
        _sep=','
    done
    set -f
    printf ']'
}

if_inet6=''
if [ "$net_source" = none ]; then
    [ -d /sys/class/net ] && net_source=sysfs
    [ -r /proc/net/if_inet6 ] && if_inet6=$(cat /proc/net/if_inet6 2>/dev/null)
fi

# -------------------------------------------------------------- kubernetes ---

k3s_binary=false
[ -x /usr/local/bin/k3s ] && k3s_binary=true
k3s_config=false
[ -e /etc/rancher/k3s/k3s.yaml ] && k3s_config=true

kubelet_binary=false
if have kubelet || [ -x /usr/bin/kubelet ] || [ -x /usr/local/bin/kubelet ]; then
    kubelet_binary=true
fi

# service_state UNIT -> `systemctl is-active` word, empty without systemd.
service_state() {
    if [ -d /run/systemd/system ] && have systemctl; then
        systemctl is-active "$1" 2>/dev/null | sed -n '1p'
    fi
}
systemd_present=false
[ -d /run/systemd/system ] && have systemctl && systemd_present=true
k3s_service=$(service_state k3s)
k3s_agent_service=$(service_state k3s-agent)

set +f
comms=$(cat /proc/[0-9]*/comm 2>/dev/null)
set -f
kubelet_process=false
k3s_process=false
case "$NL$comms$NL" in
*"${NL}kubelet$NL"*) kubelet_process=true ;;
esac
case "$NL$comms$NL" in
*"${NL}k3s$NL"* | *"${NL}k3s-server$NL"* | *"${NL}k3s-agent$NL"*) k3s_process=true ;;
esac

# ------------------------------------------------------------------ output ---

printf '{"probe_version":1'
printf ',"hostname":%s' "$(json_str "$hostname")"
printf ',"fqdn":%s' "$(json_str_or_null "$fqdn")"
printf ',"kernel":%s' "$(json_str "$kernel")"
printf ',"arch":%s' "$(json_str "$arch")"
printf ',"os":{"id":%s,"version_id":%s,"pretty_name":%s,"name":%s}' \
    "$(json_str_or_null "$os_id")" "$(json_str_or_null "$os_version_id")" \
    "$(json_str_or_null "$os_pretty_name")" "$(json_str_or_null "$os_name")"
printf ',"cpu":{"model":%s,"cores":%s,"sockets":%s}' \
    "$(json_str_or_null "$cpu_model")" "$(json_int "$cpu_cores")" "$(json_int "$cpu_sockets")"
printf ',"memory_bytes":%s' "$(json_int "$memory_bytes")"

printf ',"disks":{"source":"%s","lsblk":' "$disks_source"
if [ "$disks_source" = lsblk ]; then
    printf '%s' "$disks_lsblk"
    printf ',"sysfs":null}'
else
    printf 'null,"sysfs":'
    if [ -d /sys/block ]; then sysfs_disks; else printf 'null'; fi
    printf '}'
fi

printf ',"gpus":{"nvidia_smi":%s,"nvidia_smi_rc":%s,"lspci_present":%s,"lspci":%s}' \
    "$(if [ -n "$nvidia_smi_rc" ]; then json_str "$nvidia_smi"; else printf null; fi)" \
    "$(json_int "$nvidia_smi_rc")" "$lspci_present" \
    "$(if [ "$lspci_present" = true ]; then json_str "$lspci_lines"; else printf null; fi)"

printf ',"network":{"source":"%s","ip_json":' "$net_source"
if [ "$net_source" = ip-json ]; then printf '%s' "$ip_json"; else printf 'null'; fi
printf ',"ip_addr":%s,"ip_link":%s' \
    "$(if [ "$net_source" = ip-oneline ]; then json_str "$ip_addr"; else printf null; fi)" \
    "$(if [ "$net_source" = ip-oneline ]; then json_str "$ip_link"; else printf null; fi)"
printf ',"sysfs":'
if [ "$net_source" = sysfs ]; then sysfs_net; else printf 'null'; fi
printf ',"if_inet6":%s}' "$(if [ "$net_source" = sysfs ]; then json_str "$if_inet6"; else printf null; fi)"

printf ',"kubernetes":{"k3s_binary":%s,"k3s_config":%s,"systemd":%s,"k3s_service":%s,"k3s_agent_service":%s' \
    "$k3s_binary" "$k3s_config" "$systemd_present" \
    "$(json_str_or_null "$k3s_service")" "$(json_str_or_null "$k3s_agent_service")"
printf ',"kubelet_binary":%s,"kubelet_process":%s,"k3s_process":%s}' \
    "$kubelet_binary" "$kubelet_process" "$k3s_process"

printf '}\n'
exit 0
