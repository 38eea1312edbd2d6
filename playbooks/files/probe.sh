#!/bin/sh
# PodWarden host probe, probe_version 1.
#
# Prints ONE JSON document on stdout describing this machine. Parsed by
# podwarden.engine.parsers.probe.parse_probe_output().
#
# Rules:
#   * POSIX sh only (runs under dash); no sudo; nothing is written anywhere.
#   * A missing tool never makes the probe fail: ip, lsblk, lspci, nvidia-smi,
#     systemctl, lscpu, getconf, tr and timeout are all optional.
#     Required: cat, sed, uname (plus the shell builtins).
#   * Few processes: the probe runs on many hosts at once and every fork costs
#     the host CPU time. Files under /proc, /sys and /etc are read with the `read`
#     builtin, values are handed back in globals (not `$(...)` subshells), each
#     external tool runs at most once. On a plain Debian host (Linux >= 6.1) it
#     starts 4 processes: sed over /proc/cpuinfo, lsblk, ip, cat over the comm files.
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

NL='
'

have() {
    command -v "$1" >/dev/null 2>&1
}

# Raw TAB, CR and the control characters json_str must drop; made on first need
# (one printf), so a probe whose strings are all plain forks nothing for them.
_ctl_ready=''
_init_ctl() {
    _c=$(printf '\t\r\001\002\003\004\005\006\007\010\013\014\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037.')
    TAB=${_c%"${_c#?}"}
    _c=${_c#?}
    CR=${_c%"${_c#?}"}
    CTL=${_c#?}
    CTL=${CTL%.}
    _ctl_ready=1
}

# replace_all FROM TO: in $_s, replace every FROM with TO (no fork).
replace_all() {
    _o=''
    while :; do
        case $_s in
        *"$1"*)
            _o=$_o${_s%%"$1"*}$2
            _s=${_s#*"$1"}
            ;;
        *) break ;;
        esac
    done
    _s=$_o$_s
}

# json_str TEXT -> $_j = a JSON string literal (with the quotes). Escapes
# backslash, double quote, tab, CR and newlines; drops the other control
# characters (0x00-0x1f). Plain printable ASCII needs no work at all.
json_str() {
    case $1 in
    *[!\ -~]* | *[\\\"]*) ;;
    *)
        _j="\"$1\""
        return
        ;;
    esac
    [ -n "$_ctl_ready" ] || _init_ctl
    case $1 in
    *[$CTL]*)
        # Rare: strip the control characters with tr (the shell cannot easily).
        _s=$(printf '%s.' "$1" | tr -d '\000-\010\013\014\016-\037')
        _s=${_s%.}
        ;;
    *) _s=$1 ;;
    esac
    replace_all "\\" "\\\\"
    replace_all '"' '\"'
    replace_all "$TAB" '\t'
    replace_all "$CR" '\r'
    replace_all "$NL" '\n'
    _j="\"$_s\""
}

# json_str_or_null TEXT -> $_j = JSON string, or null when TEXT is empty.
json_str_or_null() {
    if [ -z "$1" ]; then
        _j=null
    else
        json_str "$1"
    fi
}

# json_int TEXT -> $_j = TEXT when it is a non-negative integer, else null.
json_int() {
    case $1 in
    '' | *[!0-9]*) _j=null ;;
    *) _j=$1 ;;
    esac
}

# json_bool VALUE -> $_j = true when VALUE is "true" or "1", else false.
json_bool() {
    case $1 in
    true | 1) _j=true ;;
    *) _j=false ;;
    esac
}

# read_line FILE -> $_line = first line of FILE (empty when unreadable).
read_line() {
    _line=''
    if [ -r "$1" ]; then
        IFS= read -r _line <"$1" 2>/dev/null
    fi
}

# trim TEXT -> $_t = TEXT without leading and trailing whitespace.
trim() {
    _t=${1#"${1%%[![:space:]]*}"}
    _t=${_t%"${_t##*[![:space:]]}"}
}

# ---------------------------------------------------------------- identity ---

# Name, kernel release and machine as `uname -n`, `-r` and `-m` print them, read
# from /proc (kernel.arch exists since Linux 6.1); uname runs only for what is missing.
read_line /proc/sys/kernel/hostname
hostname=$_line
read_line /proc/sys/kernel/osrelease
kernel=$_line
read_line /proc/sys/kernel/arch
arch=$_line
if [ -z "$hostname" ] || [ -z "$kernel" ] || [ -z "$arch" ]; then
    # `uname -n -r -m` prints "node release machine" (none of them holds a space).
    _uname=$(uname -n -r -m 2>/dev/null)
    case $_uname in
    *' '*' '*)
        [ -n "$hostname" ] || hostname=${_uname%% *}
        _rest=${_uname#* }
        [ -n "$kernel" ] || kernel=${_rest%% *}
        [ -n "$arch" ] || arch=${_rest#* }
        ;;
    esac
fi

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


# ---------------------------------------------------------------------- os ---

os_release=/etc/os-release
[ -r "$os_release" ] || os_release=/usr/lib/os-release

# os_value RAW -> $_v = an os-release value with its quotes and escapes removed:
# "…" loses the quotes and every backslash escape (\x -> x); '…' loses the quotes.
os_value() {
    _v=$1
    case $_v in
    \"*\")
        _s=${_v#\"}
        _s=${_s%\"}
        _v=''
        while :; do
            case $_s in
            *\\?*)
                _v=$_v${_s%%\\*}
                _s=${_s#*\\}
                _v=$_v${_s%"${_s#?}"}
                _s=${_s#?}
                ;;
            *) break ;;
            esac
        done
        _v=$_v$_s
        ;;
    \'*\')
        _v=${_v#\'}
        _v=${_v%\'}
        ;;
    esac
}

# The first line of each key wins (as `sed -n 's/^KEY=//p' | sed 1q` would).
os_id=''
os_version_id=''
os_pretty_name=''
os_name=''
_seen=' '
if [ -r "$os_release" ]; then
    while IFS= read -r _l || [ -n "$_l" ]; do
        case $_l in
        ID=* | VERSION_ID=* | PRETTY_NAME=* | NAME=*) ;;
        *) continue ;;
        esac
        _k=${_l%%=*}
        case $_seen in *" $_k "*) continue ;; esac
        _seen="$_seen$_k "
        os_value "${_l#*=}"
        case $_k in
        ID) os_id=$_v ;;
        VERSION_ID) os_version_id=$_v ;;
        PRETTY_NAME) os_pretty_name=$_v ;;
        NAME) os_name=$_v ;;
        esac
    done <"$os_release"
fi

# --------------------------------------------------------------------- cpu ---

# One sed pass over /proc/cpuinfo keeps only the lines the probe needs:
# "p" per processor, "i<physical id>", and "<key>:<value>" (value trimmed) for the
# keys that may name the model. The shell keeps the first value of each key.
cpu_lines=''
[ -r /proc/cpuinfo ] && cpu_lines=$(sed -n \
    -e 's/^processor[[:space:]]*:.*/p/p' \
    -e 's/^physical id[[:space:]]*:[[:space:]]*/i/p' \
    -e '/^model name[[:space:]]*:/b m' \
    -e '/^Hardware[[:space:]]*:/b m' \
    -e '/^Processor[[:space:]]*:/b m' \
    -e '/^cpu model[[:space:]]*:/b m' \
    -e '/^uarch[[:space:]]*:/b m' \
    -e '/^cpu[[:space:]]*:/b m' \
    -e 'd' \
    -e ':m' -e 's/[[:space:]]*:[[:space:]]*/:/' -e 's/[[:space:]]*$//' -e 's/^/m/p' \
    /proc/cpuinfo 2>/dev/null)

cpu_cores=0
cpu_ids=''
cpu_keys=''
_oldifs=$IFS
IFS=$NL
for _l in $cpu_lines; do
    case $_l in
    p) cpu_cores=$((cpu_cores + 1)) ;;
    i*)
        _l=${_l#i}
        [ -n "$_l" ] || continue
        case "$NL$cpu_ids$NL" in *"$NL$_l$NL"*) ;; *) cpu_ids=$cpu_ids$NL$_l ;; esac
        ;;
    m*)
        _k=${_l%%:*}
        case "$NL$cpu_keys$NL" in *"$NL$_k:"*) ;; *) cpu_keys=$cpu_keys$NL${_l#m} ;; esac
        ;;
    esac
done
IFS=$_oldifs

# cpu_key KEY -> $_v = the first value of KEY in /proc/cpuinfo (empty when none).
cpu_key() {
    case "$cpu_keys$NL" in
    *"$NL$1:"*)
        _v=${cpu_keys#*"$NL$1:"}
        _v=${_v%%"$NL"*}
        ;;
    *) _v='' ;;
    esac
}

cpu_key 'model name'
cpu_model=$_v
if [ -z "$cpu_model" ] && have lscpu; then
    cpu_model=$(lscpu 2>/dev/null | sed -n '/^Model name:/{s/^Model name:[[:space:]]*//;p;q;}')
fi
for _key in Hardware Processor 'cpu model' uarch cpu; do
    [ -n "$cpu_model" ] && break
    cpu_key "$_key"
    cpu_model=$_v
done

[ "$cpu_cores" = 0 ] && cpu_cores=''
if [ -z "$cpu_cores" ] && have getconf; then
    cpu_cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null)
fi

# Sockets: distinct physical ids; else distinct package ids from sysfs (not -1).
if [ -z "$cpu_ids" ] && [ -d /sys/devices/system/cpu ]; then
    set +f
    for _f in /sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id; do
        [ -r "$_f" ] || continue
        read_line "$_f"
        case $_line in '' | -*) continue ;; esac
        case "$NL$cpu_ids$NL" in *"$NL$_line$NL"*) ;; *) cpu_ids=$cpu_ids$NL$_line ;; esac
    done
    set -f
fi
cpu_sockets=''
if [ -n "$cpu_ids" ]; then
    cpu_sockets=0
    IFS=$NL
    for _l in $cpu_ids; do cpu_sockets=$((cpu_sockets + 1)); done
    IFS=$_oldifs
fi

# ------------------------------------------------------------------ memory ---

mem_kb=''
if [ -r /proc/meminfo ]; then
    while IFS= read -r _l; do
        case $_l in
        MemTotal:*)
            trim "${_l#MemTotal:}"
            _n=${_t%%[!0-9]*}
            trim "${_t#"$_n"}"
            case $_t in kB*) mem_kb=$_n ;; esac
            break
            ;;
        esac
    done </proc/meminfo
fi
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
        json_str "${_dir##*/}"
        _jname=$_j
        read_line "$_dir/size"
        _size=''
        case $_line in '' | *[!0-9]*) ;; *) _size=$((_line * 512)) ;; esac
        json_int "$_size"
        _jsize=$_j
        read_line "$_dir/queue/rotational"
        if [ -n "$_line" ]; then json_bool "$_line"; else _j=null; fi
        _jrota=$_j
        read_line "$_dir/removable"
        json_bool "$_line"
        _jrem=$_j
        read_line "$_dir/device/model"
        json_str_or_null "$_line"
        printf '%s{"name":%s,"size_bytes":%s,"rotational":%s,"removable":%s,"model":%s}' \
            "$_sep" "$_jname" "$_jsize" "$_jrota" "$_jrem" "$_j"
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

# Display controllers (PCI class 03xx: VGA, XGA, 3D, other display): the lines
# whose first quoted field ends in "[03xx]".
lspci_lines=''
lspci_present=false
if have lspci; then
    lspci_present=true
    _out=$(lspci -mm -nn 2>/dev/null)
    IFS=$NL
    for _l in $_out; do
        _q=${_l#*\"}
        [ "$_q" != "$_l" ] || continue
        case $_q in *\"*) ;; *) continue ;; esac
        case ${_q%%\"*} in
        *\[03[0-9a-fA-F][0-9a-fA-F]\]) lspci_lines=$lspci_lines${lspci_lines:+$NL}$_l ;;
        esac
    done
    IFS=$_oldifs
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
        json_str "${_dir##*/}"
        _jname=$_j
        read_line "$_dir/address"
        json_str_or_null "$_line"
        _jmac=$_j
        read_line "$_dir/operstate"
        json_str_or_null "$_line"
        _jstate=$_j
        read_line "$_dir/flags"
        json_str_or_null "$_line"
        printf '%s{"name":%s,"mac":%s,"operstate":%s,"flags":%s}' "$_sep" \
            "$_jname" "$_jmac" "$_jstate" "$_j"
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

# `systemctl is-active` words for k3s and k3s-agent (one line per unit, in the
# order asked), empty without systemd.
systemd_present=false
k3s_service=''
k3s_agent_service=''
if [ -d /run/systemd/system ] && have systemctl; then
    systemd_present=true
    _out=$(systemctl is-active k3s k3s-agent 2>/dev/null)
    case $_out in
    *"$NL"*)
        k3s_service=${_out%%"$NL"*}
        _out=${_out#*"$NL"}
        k3s_agent_service=${_out%%"$NL"*}
        ;;
    *) k3s_service=$_out ;;
    esac
fi

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

json_str "$hostname"
printf '{"probe_version":1,"hostname":%s' "$_j"
json_str_or_null "$fqdn"
printf ',"fqdn":%s' "$_j"
json_str "$kernel"
printf ',"kernel":%s' "$_j"
json_str "$arch"
printf ',"arch":%s' "$_j"
json_str_or_null "$os_id"
printf ',"os":{"id":%s' "$_j"
json_str_or_null "$os_version_id"
printf ',"version_id":%s' "$_j"
json_str_or_null "$os_pretty_name"
printf ',"pretty_name":%s' "$_j"
json_str_or_null "$os_name"
printf ',"name":%s}' "$_j"
json_str_or_null "$cpu_model"
printf ',"cpu":{"model":%s' "$_j"
json_int "$cpu_cores"
printf ',"cores":%s' "$_j"
json_int "$cpu_sockets"
printf ',"sockets":%s}' "$_j"
json_int "$memory_bytes"
printf ',"memory_bytes":%s' "$_j"

printf ',"disks":{"source":"%s","lsblk":' "$disks_source"
if [ "$disks_source" = lsblk ]; then
    printf '%s' "$disks_lsblk"
    printf ',"sysfs":null}'
else
    printf 'null,"sysfs":'
    if [ -d /sys/block ]; then sysfs_disks; else printf 'null'; fi
    printf '}'
fi

_j=null
[ -n "$nvidia_smi_rc" ] && json_str "$nvidia_smi"
printf ',"gpus":{"nvidia_smi":%s' "$_j"
json_int "$nvidia_smi_rc"
printf ',"nvidia_smi_rc":%s,"lspci_present":%s' "$_j" "$lspci_present"
_j=null
[ "$lspci_present" = true ] && json_str "$lspci_lines"
printf ',"lspci":%s}' "$_j"

printf ',"network":{"source":"%s","ip_json":' "$net_source"
if [ "$net_source" = ip-json ]; then printf '%s' "$ip_json"; else printf 'null'; fi
_j=null
[ "$net_source" = ip-oneline ] && json_str "$ip_addr"
printf ',"ip_addr":%s' "$_j"
_j=null
[ "$net_source" = ip-oneline ] && json_str "$ip_link"
printf ',"ip_link":%s' "$_j"
printf ',"sysfs":'
if [ "$net_source" = sysfs ]; then sysfs_net; else printf 'null'; fi
_j=null
[ "$net_source" = sysfs ] && json_str "$if_inet6"
printf ',"if_inet6":%s}' "$_j"

json_str_or_null "$k3s_service"
_jk3s=$_j
json_str_or_null "$k3s_agent_service"
printf ',"kubernetes":{"k3s_binary":%s,"k3s_config":%s,"systemd":%s,"k3s_service":%s,"k3s_agent_service":%s' \
    "$k3s_binary" "$k3s_config" "$systemd_present" "$_jk3s" "$_j"
printf ',"kubelet_binary":%s,"kubelet_process":%s,"k3s_process":%s}' \
    "$kubelet_binary" "$kubelet_process" "$k3s_process"

printf '}\n'
exit 0
