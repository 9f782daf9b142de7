#!/usr/bin/env bash
# Real PyTorch (CPU) for the probe's end-to-end tests: prepares, once, a Debian sid chroot with python3-torch,
# python3-transformers, python3-torchvision and OpenBLAS, and prints as its LAST line the path of an interpreter
# wrapper to pass as `magneton capture --python` (CI exports it as MAGNETON_TEST_PYTHON).
#
#   scripts/torch-env.sh                 # ~6 min and ~2.2 GB the first time, then instant
#   MAGNETON_TORCH_ENV=/var/cache/mt scripts/torch-env.sh
#
# Why a chroot: the host's Debian (bookworm) ships torch 1.13 without Kineto, too old for the probe; sid has
# torch 2.x with Kineto and transformers, but does not install on bookworm's libc. Needs root (debootstrap,
# chroot, mount namespaces); installs debootstrap on the host when it is missing.
#
# Cached under $MAGNETON_TORCH_ENV (default <repo>/.tmp/torch-env): root/ is the chroot, ready is written only
# after a complete install (a directory without it is removed and made again). The wrapper is written into this
# repository, <repo>/.tmp/torch-python3, so clones sharing one MAGNETON_TORCH_ENV each get their own. The
# wrapper runs the chroot's python3 in a private mount namespace (unshare -m): /proc, /dev, /sys, /tmp, the
# repository and the caller's working directory are bind-mounted at the same paths inside, and vanish with the
# process, so nothing stays mounted on the host (`rm -rf .tmp` is always safe). It sets OMP_NUM_THREADS=1 (two
# intra-op threads on a busy 2-core machine ran 15x slower) and puts the probe on PYTHONPATH. Extra host paths
# a job reads can be added with MAGNETON_TORCH_BIND=/a:/b.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
env_dir=${MAGNETON_TORCH_ENV:-$repo/.tmp/torch-env}
suite=${MAGNETON_TORCH_SUITE:-sid}
# The Debian archive the host's apt already uses (deb822 "URIs:" or one-line "deb" sources), unless told otherwise.
host_mirror() {
    { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{ print $2 }'
      grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
    } | grep -v -- '-security' | head -1
}
mirror=${MAGNETON_TORCH_MIRROR:-$(host_mirror || true)}
packages="python3-torch python3-transformers python3-torchvision libopenblas0-pthread"
root=$env_dir/root
marker=$env_dir/ready
wrapper=$repo/.tmp/torch-python3
want="suite=$suite packages=$packages"

say() { echo "torch-env: $*" >&2; }
die() { echo "torch-env: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount namespaces)"
[ -n "$mirror" ] || die "no Debian archive in the host's apt sources; set MAGNETON_TORCH_MIRROR"
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
mkdir -p "$env_dir"
env_dir=$(cd "$env_dir" && pwd)
root=$env_dir/root
marker=$env_dir/ready
mkdir -p "$repo/.tmp"

# One preparation at a time (CI and a developer may start it together).
exec 9>"$env_dir/.lock"
flock 9

# Runs a command in the chroot in a private mount namespace, with /proc, /dev and /sys bound inside.
in_root() {
    unshare -m --propagation private -- /bin/sh -c '
        r=$1; shift
        mount --rbind /proc "$r/proc" && mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" || exit 1
        exec chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive "$@"' sh "$root" "$@"
}

# Mounts left on the host by an older, interrupted version of this script would make rm -rf descend into /dev.
unmount_under() {
    local m
    for m in $(awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
}

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$root/usr/bin/python3" ]; then
    say "cached in $root"
else
    if [ -e "$root" ]; then
        say "removing an incomplete or outdated chroot in $root"
        unmount_under "$root"
        rm -rf "$root"
    fi
    rm -f "$marker"
    if ! command -v debootstrap >/dev/null; then
        say "apt-get install debootstrap (host)"
        apt-get update -qq >&2 || die "apt-get update failed on the host"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2 || die "apt-get install debootstrap failed"
    fi
    say "debootstrap --variant=minbase $suite $root ($mirror)"
    t0=$(date +%s)
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$env_dir/debootstrap.log" 2>&1 \
        || { tail -20 "$env_dir/debootstrap.log" >&2; die "debootstrap failed (see $env_dir/debootstrap.log)"; }
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    # The archive these machines reach may be a dated snapshot whose Release file has expired.
    echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99magneton-snapshot"
    say "apt-get install $packages (in the chroot)"
    { in_root apt-get update && in_root apt-get install -y --no-install-recommends $packages; } \
        >"$env_dir/apt.log" 2>&1 \
        || { tail -20 "$env_dir/apt.log" >&2; die "apt-get install in the chroot failed (see $env_dir/apt.log)"; }
    in_root apt-get clean >/dev/null 2>&1 || true
    in_root python3 -c 'import torch, torchvision, transformers' >&2 \
        || die "the chroot's python3 cannot import torch, torchvision and transformers"
    echo "$want" >"$marker"
    say "ready in $(( $(date +%s) - t0 )) s: $(du -sh "$root" 2>/dev/null | cut -f1)"
fi

# The wrapper is rewritten on every run (cheap; keeps it in step with this script and the repository path).
cat >"$wrapper.new" <<EOF
#!/bin/sh
# Made by scripts/torch-env.sh: the Debian $suite chroot's python3 with real PyTorch (CPU), OMP_NUM_THREADS=1
# and the probe on PYTHONPATH, in a private mount namespace (nothing stays mounted after it exits).
root='$root'
repo='$repo'
probe='$repo/src/GpuWorker/probe'
EOF
cat >>"$wrapper.new" <<'EOF'
wd=$(pwd)
exec unshare -m --propagation private -- /bin/sh -c '
    root=$1 repo=$2 probe=$3 wd=$4; shift 4
    bind() { [ -d "$1" ] || return 0; mkdir -p "$root$1" && mount --rbind "$1" "$root$1"; }
    mount --rbind /proc "$root/proc" && mount --rbind /dev "$root/dev" && mount --rbind /sys "$root/sys" || exit 125
    bind /tmp || exit 125
    bind "$repo" || exit 125
    case "$wd" in /|/tmp|/tmp/*|"$repo"|"$repo"/*) ;; *) bind "$wd" || exit 125 ;; esac
    old_ifs=$IFS; IFS=:
    for p in ${MAGNETON_TORCH_BIND:-}; do [ -n "$p" ] && { bind "$p" || exit 125; }; done
    IFS=$old_ifs
    export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin OMP_NUM_THREADS=1 \
        PYTHONPATH="$probe${PYTHONPATH:+:$PYTHONPATH}" HOME=/tmp HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
    exec chroot "$root" /bin/sh -c '\''cd "$1" && shift && exec /usr/bin/python3 "$@"'\'' sh "$wd" "$@"
' sh "$root" "$repo" "$probe" "$wd" "$@"
EOF
chmod +x "$wrapper.new"
mv -f "$wrapper.new" "$wrapper"
"$wrapper" -c 'import torch; print("torch-env: torch", torch.__version__, "threads", torch.get_num_threads())' >&2 \
    || die "the wrapper $wrapper does not run the chroot's python3"
echo "$wrapper"
