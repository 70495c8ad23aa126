#!/usr/bin/env bash
# Brings up rbake's real build stack on a Debian bookworm machine, as root:
#   - Docker 20.10 (bookworm's docker.io, BuildKit v0.8) on /var/run/docker.sock
#   - Docker 26 (trixie's docker.io + docker-cli, BuildKit 0.13, containerd image store)
#     on unix:///run/rbake-m/docker.sock, run from unpacked .debs (not installed)
#   - a distribution 2.8 registry on 127.0.0.1:5000
#   - qemu-user-static binfmt handlers for arm64 and arm
#   - the buildx 0.13.1 CLI plugin (the peer for side-by-side checks)
#   - the builder fleet (issue 9), two more Docker 26 daemons from the same binaries:
#     "tls" on tcp://127.0.0.1:2376 with --tlsverify (CA and certificates made here with
#     openssl, plus a client certificate from another CA that it must refuse), and "ssh"
#     reached as ssh://root@127.0.0.1:2222 through Debian's sshd (its own config, host key
#     and a key pair made here; listening on 127.0.0.1 only)
# See scripts/README.md. Every subcommand is idempotent and cheap when its work is done.
#
# Usage: scripts/stack.sh [install] [up] [base-images] [verify] [status] [down] [env]
#        (several subcommands run in the order given)
set -euo pipefail
# (With pipefail, 'cmd | grep -q' fails at random when grep exits first and cmd gets
# SIGPIPE: output is captured into variables before grepping instead.)

# ---- layout (all overridable, but the defaults are what tests expect) -------------------
STACK_DIR=${RBAKE_STACK_DIR:-/opt/rbake-stack}        # unpacked debs, config files
CACHE_DIR=${RBAKE_CACHE_DIR:-/var/cache/rbake}        # downloaded .debs, build contexts
LOG_DIR=${RBAKE_LOG_DIR:-/var/log/rbake-stack}
RUN_DIR=/run/rbake-stack                              # our pidfiles and lock

D20_SOCK=/var/run/docker.sock
D20_PIDFILE=$RUN_DIR/dockerd20.pid
D20_CONFIG=$STACK_DIR/etc/dockerd20.json
D20_EXEC_ROOT=/var/run/docker           # dockerd's default, named so we can clean it
DOCKER20=/usr/bin/docker                 # the 20.10 client; /usr/local/bin/docker may be another
DOCKERD20=/usr/sbin/dockerd

M_ROOT=/run/rbake-m
D26_SOCK=$M_ROOT/docker.sock
D26_PIDFILE=$M_ROOT/docker.pid
D26_EXEC_ROOT=$M_ROOT/exec
D26_DATA_ROOT=/var/lib/rbake-m
D26_DIR=$STACK_DIR/docker26              # trixie's docker.io + docker-cli, unpacked
D26_CONFIG=$STACK_DIR/etc/docker26/daemon.json
DOCKER26=$D26_DIR/usr/bin/docker
DOCKERD26=$D26_DIR/usr/sbin/dockerd

REG_ADDR=127.0.0.1:5000
REG_DATA=/var/lib/rbake-registry
REG_CONFIG=$STACK_DIR/etc/registry.yml
REG_PIDFILE=$RUN_DIR/registry.pid

# The fleet: certificates, ssh keys and configs under FLEET_DIR; each daemon its own roots.
FLEET_DIR=$STACK_DIR/fleet
T_ROOT=/run/rbake-t
T_SOCK=$T_ROOT/docker.sock
T_PIDFILE=$T_ROOT/docker.pid
T_EXEC_ROOT=$T_ROOT/exec
T_DATA_ROOT=/var/lib/rbake-t
T_ADDR=127.0.0.1:2376
S_ROOT=/run/rbake-s
S_SOCK=$S_ROOT/docker.sock
S_PIDFILE=$S_ROOT/docker.pid
S_EXEC_ROOT=$S_ROOT/exec
S_DATA_ROOT=/var/lib/rbake-s
S_CONFIG=$STACK_DIR/etc/docker-s/daemon.json
SSHD_PORT=2222
SSHD_PIDFILE=$RUN_DIR/sshd.pid
SSH_URL=ssh://root@127.0.0.1:$SSHD_PORT

BUILDX_DIR=$STACK_DIR/buildx
BUILDX_PLUGIN=${HOME:-/root}/.docker/cli-plugins/docker-buildx

DEB_DIR=$CACHE_DIR/debs
BASE_DIR=$CACHE_DIR/base-images
APT_PKGS=(docker.io docker-registry qemu-user-static python3 curl jq openssh-server openssl)
BUSYBOX_APPLETS=(sh echo cat uname ls true false mkdir test)
# tag  deb-arch  build platform  expected Architecture  expected Variant  uname -m
BASE_SPECS=(
  "amd64 amd64 linux/amd64 amd64 - x86_64"
  "arm64 arm64 linux/arm64 arm64 - aarch64"
  "armv7 armhf linux/arm/v7 arm v7 armv7l"
)
BASE_REPO=rbake-test/busybox
WAIT_SECS=${RBAKE_WAIT_SECS:-90}

# Daemons get a fixed PATH so that the two engines never pick up each other's binaries
# (both use bookworm's containerd and runc from /usr/bin).
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
D26_PATH=$D26_DIR/usr/sbin:$D26_DIR/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ---- helpers -----------------------------------------------------------------------------
say()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die()  { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log when something fails, so the cause is on the screen.
show_log() { [ -f "$1" ] && { echo "---- last lines of $1 ----" >&2; tail -n "${2:-25}" "$1" >&2; echo "----" >&2; }; return 0; }

# A pid from a pidfile counts only if that process still runs under the expected name
# (pids are reused after an unclean stop, e.g. when CI kills everything between runs).
pid_alive() {
  local pidfile=$1 comm=$2 pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] && proc_running "$pid"
}

# A killed daemon lingers as a zombie until pid 1 reaps it (late on this machine), and
# kill -0 still succeeds on a zombie: look at the process state instead.
proc_running() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  case ${rest%% *} in Z|X|x) return 1 ;; esac
}

ping_sock() { curl -sf -m 3 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; }
ping_registry() { curl -sf -m 3 -o /dev/null "http://$REG_ADDR/v2/"; }

# wait_until DESC LOG PID CMD...: poll CMD until it succeeds or WAIT_SECS pass; fail at
# once if PID (the process we just started, may be empty) has exited.
wait_until() {
  local desc=$1 log=$2 pid=$3; shift 3
  local deadline=$((SECONDS + WAIT_SECS))
  until "$@"; do
    if [ -n "$pid" ] && ! proc_running "$pid"; then
      show_log "$log" 40
      die "$desc exited during startup (log: $log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      show_log "$log" 40
      die "$desc did not become healthy within ${WAIT_SECS}s (log: $log)"
    fi
    sleep 0.3
  done
}

# stop_pidfiles "NAME|PIDFILE|COMM"...: TERM every recorded pid at once (each dockerd takes
# seconds to stop its containerd), wait, then KILL stragglers. Only pids we recorded.
stop_pidfiles() {
  local spec name pidfile comm pid i n names=() pids=() files=()
  for spec in "$@"; do
    IFS='|' read -r name pidfile comm <<<"$spec"
    if pid_alive "$pidfile" "$comm"; then
      pid=$(cat "$pidfile")
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$name"); pids+=("$pid"); files+=("$pidfile")
    else
      rm -f "$pidfile"
      say "$name: not running"
    fi
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    for ((n = 0; n < 150; n++)); do
      proc_running "$pid" || break
      sleep 0.2
    done
    if proc_running "$pid"; then
      warn "${names[$i]} (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "${files[$i]}"
    say "${names[$i]}: stopped (pid $pid)"
  done
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (no sudo is used)"; }

# One stack.sh at a time: parallel test jobs may all call 'up'.
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  flock -w 300 9 || die "another stack.sh holds $RUN_DIR/lock"
}

write_if_changed() {  # write_if_changed FILE CONTENT -> returns 0 if the file changed
  local f=$1 content=$2
  if [ -f "$f" ] && [ "$(cat "$f")" = "$content" ]; then return 1; fi
  mkdir -p "$(dirname "$f")"
  printf '%s\n' "$content" >"$f"
  return 0
}

timed() {  # timed NAME FUNC: run a step and say how long it took
  local name=$1 t0=$SECONDS; shift
  "$@"
  say "$name: done in $((SECONDS - t0))s"
}

# ---- apt ---------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0

# A mirror that is syncing makes one index fail ("File has unexpected size"): retry, then
# go on with what we have; a package that is really missing fails later with a clear message.
apt_update() {
  [ "$APT_UPDATED" = 1 ] && return 0
  local i log=$LOG_DIR/apt-update.log
  for i in 1 2 3; do
    if apt-get update -q >"$log" 2>&1; then APT_UPDATED=1; return 0; fi
    warn "apt-get update attempt $i failed: $(grep -E '^(E|W|Err):' "$log" | head -n 3 | tr '\n' ' ')"
    [ $i -lt 3 ] && sleep 3
  done
  warn "apt-get update kept failing; going on with the indexes that did download"
  APT_UPDATED=1
}

# The Debian mirror this machine already uses for bookworm, so the trixie source we add
# goes to the same place (no host is hard-coded here).
debian_mirror() {
  local uri
  if [ -n "${RBAKE_DEBIAN_MIRROR:-}" ]; then echo "$RBAKE_DEBIAN_MIRROR"; return; fi
  # shellcheck disable=SC2016  # $(REPO_URI) is apt's template syntax, not ours
  uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk '$2 == "bookworm" && u == "" { u = $1 } END { print u }')
  [ -n "$uri" ] || die "no bookworm apt source found to derive the trixie source from; set RBAKE_DEBIAN_MIRROR"
  echo "${uri%/}"
}

# Trixie is only a place to download two .debs from: pinned at 100, nothing installed
# from bookworm is ever upgraded to it, and nothing is installed from it.
setup_trixie_source() {
  local changed=1 mirror src=/etc/apt/sources.list.d/rbake-trixie.sources
  # Reuse the mirror we wrote last time: 'apt-get indextargets' costs seconds.
  mirror=$(awk '$1 == "URIs:" { print $2 }' "$src" 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(debian_mirror)
  write_if_changed "$src" "Types: deb
URIs: $mirror
Suites: trixie
Components: main
Architectures: amd64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" && changed=0
  write_if_changed /etc/apt/preferences.d/rbake-trixie "Package: *
Pin: release n=trixie
Pin-Priority: 100" && changed=0
  return $changed
}

# deb_cached PATTERN: the newest cached .deb matching a glob under $DEB_DIR, if any.
# shellcheck disable=SC2086  # $1 is a glob on purpose
deb_cached() { (shopt -s nullglob; printf '%s\n' "$DEB_DIR"/$1 | sort -V | tail -n 1); }

# fetch_deb SPEC GLOB: 'apt-get download SPEC' into the cache unless GLOB already matches.
fetch_deb() {
  local spec=$1 glob=$2 f
  f=$(deb_cached "$glob")
  if [ -z "$f" ]; then
    mkdir -p "$DEB_DIR"
    apt_update
    # _apt must be able to write here, or apt warns about an unsandboxed download.
    chown _apt:root "$DEB_DIR" 2>/dev/null || true
    (cd "$DEB_DIR" && apt-get download -q "$spec" >"$LOG_DIR/apt-download.log" 2>&1) || {
      show_log "$LOG_DIR/apt-download.log"
      die "apt-get download $spec failed (is the package in the indexes? try: apt-cache policy ${spec%%[:/]*})"
    }
    f=$(deb_cached "$glob")
    [ -n "$f" ] || die "apt-get download $spec gave no file matching $glob"
    say "downloaded $(basename "$f")" >&2
  fi
  echo "$f"
}

# unpack_debs DEST DEB...: dpkg-deb -x each into DEST, redone only when the .debs change.
unpack_debs() {
  local dest=$1 stamp=$1/.rbake-from-debs want d; shift
  want=$(for d in "$@"; do basename "$d"; done)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  rm -rf "$dest"
  mkdir -p "$dest"
  for d in "$@"; do dpkg-deb -x "$d" "$dest"; done
  echo "$want" >"$stamp"
  say "unpacked ${want//$'\n'/ } into $dest"
}

pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }

# ---- install -----------------------------------------------------------------------------
do_install() {
  mkdir -p "$STACK_DIR/etc" "$DEB_DIR" "$LOG_DIR"
  local a missing=() p archs madison
  archs=$(dpkg --print-foreign-architectures)

  for a in arm64 armhf; do
    if ! grep -qx "$a" <<<"$archs"; then
      dpkg --add-architecture "$a"
      APT_UPDATED=0; say "added dpkg architecture $a"
      NEED_UPDATE=1
    fi
  done
  if setup_trixie_source; then say "trixie apt source added (pin 100)"; NEED_UPDATE=1; fi
  [ "${NEED_UPDATE:-0}" = 1 ] && apt_update

  for p in "${APT_PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_update
    # Package scripts must not start services here (the packaged registry and sshd would
    # listen on all interfaces; dockerd and sshd are started by 'up' with our own configs).
    # Keep an existing policy.
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    fi
    say "apt-get install ${missing[*]}"
    local ok=0
    for a in 1 2; do
      if apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt-install.log" 2>&1; then
        ok=1; break
      fi
      warn "apt-get install failed (attempt $a); refreshing indexes"
      APT_UPDATED=0; apt_update
    done
    [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ $ok = 1 ] || { show_log "$LOG_DIR/apt-install.log"; die "apt-get install ${missing[*]} failed"; }
  fi

  # Docker 26 and buildx 0.13.1 come only from trixie, where the daemon (docker.io) and
  # the client (docker-cli) are separate packages. Check that trixie really offers them
  # before downloading, so a changed archive fails with a clear message.
  local deb26 debcli debbx
  if [ -z "$(deb_cached 'docker.io_2[6-9].*_amd64.deb')" ] || [ -z "$(deb_cached 'docker-cli_2[6-9].*_amd64.deb')" ] ||
     [ -z "$(deb_cached 'docker-buildx_*_amd64.deb')" ]; then
    apt_update
    for p in docker.io docker-cli docker-buildx; do
      madison=$(apt-cache madison "$p" | grep ' trixie/' || true)
      [ -n "$madison" ] ||
        die "$p is not offered by trixie (apt-cache madison $p); check /etc/apt/sources.list.d/rbake-trixie.sources"
      [ "$p" != docker.io ] || grep -q '| 26\.' <<<"$madison" || warn "trixie's docker.io is not 26.x: $madison"
    done
  fi
  deb26=$(fetch_deb docker.io/trixie 'docker.io_2[6-9].*_amd64.deb')
  debcli=$(fetch_deb docker-cli/trixie 'docker-cli_2[6-9].*_amd64.deb')
  debbx=$(fetch_deb docker-buildx/trixie 'docker-buildx_*_amd64.deb')
  unpack_debs "$D26_DIR" "$deb26" "$debcli"
  [ -x "$DOCKERD26" ] && [ -x "$DOCKER26" ] || die "$D26_DIR has no usr/sbin/dockerd or usr/bin/docker after unpacking"
  unpack_debs "$BUILDX_DIR" "$debbx"
  local bx=$BUILDX_DIR/usr/libexec/docker/cli-plugins/docker-buildx
  [ -x "$bx" ] || die "$debbx has no usr/libexec/docker/cli-plugins/docker-buildx"
  if ! cmp -s "$bx" "$BUILDX_PLUGIN"; then
    install -D -m 755 "$bx" "$BUILDX_PLUGIN"
    say "installed buildx plugin at $BUILDX_PLUGIN"
  fi

  install_sshkey_server

  # Base images are built from these; fetching them now keeps 'base-images' off apt.
  local spec
  for spec in "${BASE_SPECS[@]}"; do
    read -r _ debarch _ <<<"$spec"
    fetch_deb "busybox-static:$debarch" "busybox-static_*_$debarch.deb" >/dev/null
  done

  say "installed: docker $("$DOCKER20" --version | awk '{print $3}' | tr -d ,)," \
      "docker $("$DOCKER26" --version | awk '{print $3}' | tr -d ,) (in $D26_DIR)," \
      "registry $(docker-registry --version 2>&1 | awk '{print $NF}'), buildx $("$BUILDX_PLUGIN" version | awk '{print $2}')," \
      "$(qemu-aarch64-static --version | head -n 1)"
}

# ---- sshd for the ssh key-file test -------------------------------------------------------
# e2e `ssh_key_file` runs its own sshd (127.0.0.1:2231, config and keys in its temp dir) for
# the length of the test; only the package is needed, its service never started here.
SSHKEY_PKGS=(openssh-server)
install_sshkey_server() {
  local p missing=() own_policy=0
  for p in "${SSHKEY_PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  apt_update
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  say "apt-get install ${missing[*]} (for the ssh key-file test)"
  local ok=0
  apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt-install-sshkey.log" 2>&1 && ok=1
  [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $ok = 1 ] || { show_log "$LOG_DIR/apt-install-sshkey.log"; die "apt-get install ${missing[*]} failed"; }
}

# ---- up ----------------------------------------------------------------------------------
binfmt_enabled() {
  local h
  for h in qemu-aarch64 qemu-arm; do
    [ "$(head -n 1 "/proc/sys/fs/binfmt_misc/$h" 2>/dev/null || true)" = enabled ] || return 1
  done
}

up_binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
    die "cannot mount binfmt_misc; foreign-platform RUN steps need it"
  if ! binfmt_enabled; then
    if [ -x /lib/systemd/systemd-binfmt ]; then
      /lib/systemd/systemd-binfmt >"$LOG_DIR/binfmt.log" 2>&1 || true
    fi
    # Without systemd-binfmt, register the handlers from qemu-user-static's own files.
    local h line
    for h in qemu-aarch64 qemu-arm; do
      [ -e "/proc/sys/fs/binfmt_misc/$h" ] && continue
      line=$(grep -v '^#' "/usr/lib/binfmt.d/$h.conf" 2>/dev/null | head -n 1) || true
      [ -n "$line" ] && echo "$line" >/proc/sys/fs/binfmt_misc/register 2>>"$LOG_DIR/binfmt.log" || true
    done
  fi
  binfmt_enabled || { show_log "$LOG_DIR/binfmt.log"; die "qemu-aarch64/qemu-arm binfmt handlers are not enabled (is qemu-user-static installed?)"; }
  say "binfmt: qemu-aarch64 and qemu-arm enabled (flags $(awk '/^flags:/ {print $2}' /proc/sys/fs/binfmt_misc/qemu-aarch64))"
}

# start_dockerd NAME SOCK PIDFILE EXEC_ROOT LOG PATH ARGS...: start in its own session
# unless the socket already answers; then wait for GET /_ping.
start_dockerd() {
  local name=$1 sock=$2 pidfile=$3 exec_root=$4 log=$5 path=$6; shift 6
  if ping_sock "$sock"; then
    pid_alive "$pidfile" dockerd && say "$name: already up (pid $(cat "$pidfile"))" ||
      say "$name: $sock already answers (not started by stack.sh)"
    return 0
  fi
  local started=
  if ! pid_alive "$pidfile" dockerd; then
    # A stale pidfile (daemon killed, maybe still a zombie) makes dockerd refuse to start,
    # and a stale containerd pidfile makes it wait 15s for a dead containerd, then fail.
    rm -f "$pidfile"
    pid_alive "$exec_root/containerd/containerd.pid" containerd || rm -f "$exec_root/containerd/containerd.pid"
    echo "==== $(date -Is) starting: $*" >>"$log"
    # 9>&-: a daemon must not inherit our lock fd, or it would hold the lock forever.
    env PATH="$path" setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
    started=$!
  fi
  wait_until "$name" "$log" "$started" ping_sock "$sock"
  say "$name: up (pid $(cat "$pidfile" 2>/dev/null || echo '?'), unix://$sock)"
}

up_dockerd20() {
  [ -x "$DOCKERD20" ] || die "$DOCKERD20 missing: run '$0 install' first"
  # Our own (near empty) config so a stray /etc/docker/daemon.json cannot change the engine.
  write_if_changed "$D20_CONFIG" '{ "features": { "buildkit": true } }' || true
  # --bridge none --iptables=false: no engine here may touch docker0 or the firewall
  # (a --bridge none engine deletes docker0, which would break a bridge-using engine).
  start_dockerd "docker 20.10" "$D20_SOCK" "$D20_PIDFILE" "$D20_EXEC_ROOT" "$LOG_DIR/dockerd20.log" "$SYS_PATH" \
    "$DOCKERD20" --config-file "$D20_CONFIG" -H "unix://$D20_SOCK" --pidfile "$D20_PIDFILE" \
    --exec-root "$D20_EXEC_ROOT" --bridge none --iptables=false
}

up_dockerd26() {
  [ -x "$DOCKERD26" ] || die "$DOCKERD26 missing: run '$0 install' first"
  mkdir -p "$M_ROOT" "$D26_DATA_ROOT"
  write_if_changed "$D26_CONFIG" '{ "features": { "containerd-snapshotter": true } }' || true
  # Everything private (data-root, exec-root, pidfile, socket) so it runs beside 20.10;
  # it starts its own containerd (bookworm's binary) under its exec-root.
  start_dockerd "docker 26" "$D26_SOCK" "$D26_PIDFILE" "$D26_EXEC_ROOT" "$LOG_DIR/dockerd26.log" "$D26_PATH" \
    "$DOCKERD26" --config-file "$D26_CONFIG" -H "unix://$D26_SOCK" \
    --data-root "$D26_DATA_ROOT" --exec-root "$D26_EXEC_ROOT" --pidfile "$D26_PIDFILE" \
    --bridge none --iptables=false
}

up_registry() {
  command -v docker-registry >/dev/null || die "docker-registry missing: run '$0 install' first"
  mkdir -p "$REG_DATA"
  # Not the packaged config: that one listens on all interfaces and wants htpasswd.
  write_if_changed "$REG_CONFIG" "version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $REG_DATA
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REG_ADDR" || true
  local log=$LOG_DIR/registry.log
  if ping_registry; then
    pid_alive "$REG_PIDFILE" docker-registry && say "registry: already up (pid $(cat "$REG_PIDFILE"))" ||
      say "registry: http://$REG_ADDR already answers (not started by stack.sh)"
    return 0
  fi
  local started=
  if ! pid_alive "$REG_PIDFILE" docker-registry; then
    echo "==== $(date -Is) starting registry" >>"$log"
    setsid docker-registry serve "$REG_CONFIG" >>"$log" 2>&1 </dev/null 9>&- &
    started=$!
    echo "$started" >"$REG_PIDFILE"
  fi
  wait_until "registry" "$log" "$started" ping_registry
  say "registry: up (pid $(cat "$REG_PIDFILE"), http://$REG_ADDR, storage $REG_DATA)"
}

engine_version() {  # engine_version SOCK -> "26.1.5 (API 1.45, containerd 1.6.20, driver ...)"
  local v i
  v=$(curl -sf -m 5 --unix-socket "$1" http://localhost/version) || { echo "not answering"; return; }
  i=$(curl -sf -m 5 --unix-socket "$1" http://localhost/info) || i='{}'
  jq -nr --argjson v "$v" --argjson i "$i" '
    ($v.Components // [] | map(select(.Name == "containerd")) | .[0].Version // "?") as $ctd
    | ($i.DriverStatus // [] | map(select(.[0] == "driver-type")) | .[0][1] // "") as $dt
    | "\($v.Version) (API \($v.ApiVersion), containerd \($ctd), storage \($i.Driver // "?")\(if $dt != "" then " / " + $dt else "" end))"'
}

do_up() {
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  up_binfmt
  up_dockerd20
  up_dockerd26
  up_registry
  up_fleet
  do_status
}

# ---- the fleet (issue 9) -----------------------------------------------------------------
# Certificates: a CA, the engine's server certificate (for 127.0.0.1 and localhost), a client
# certificate, and a client certificate from a second CA that the engine must refuse.
# Made once; ECDSA P-256, 10 years (test material only).
fleet_certs() {
  local d=$FLEET_DIR/tls
  [ -s "$d/client/key.pem" ] && [ -s "$d/other-client/key.pem" ] && [ -s "$d/server/key.pem" ] && return 0
  rm -rf "$d"; mkdir -p "$d/ca" "$d/other-ca" "$d/server" "$d/client" "$d/other-client"
  chmod 700 "$d"
  local log=$LOG_DIR/fleet-certs.log
  mkca() {  # mkca DIR CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -keyout "$1/ca-key.pem" -out "$1/ca.pem" -subj "/CN=$2" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign >>"$log" 2>&1
  }
  mkcert() {  # mkcert CADIR OUTDIR CN EXTENSIONS
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$2/key.pem" -out "$2/req.csr" -subj "/CN=$3" >>"$log" 2>&1
    printf '%b' "$4" >"$2/ext.cnf"
    openssl x509 -req -in "$2/req.csr" -CA "$1/ca.pem" -CAkey "$1/ca-key.pem" -CAcreateserial \
      -days 3650 -out "$2/cert.pem" -extfile "$2/ext.cnf" >>"$log" 2>&1
    cp "$1/ca.pem" "$2/ca.pem"
    rm -f "$2/req.csr" "$2/ext.cnf"
  }
  { mkca "$d/ca" "rbake fleet CA" &&
    mkca "$d/other-ca" "rbake other CA" &&
    mkcert "$d/ca" "$d/server" "127.0.0.1" 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' &&
    mkcert "$d/ca" "$d/client" "rbake client" 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' &&
    mkcert "$d/other-ca" "$d/other-client" "rbake stranger" 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
  } || { show_log "$log"; die "openssl could not make the fleet's certificates"; }
  # The stranger's bundle trusts the right CA for the server, so only its client side is wrong.
  cp "$d/ca/ca.pem" "$d/other-client/ca.pem"
  say "fleet: certificates made in $d"
}

# ssh: sshd's host key, a client key pair, known_hosts, an ssh config, and bin/ssh, a
# wrapper that runs ssh with that config (tests put it first on PATH; root's ~/.ssh is not
# touched). The key logs in as root with DOCKER_HOST set to the ssh engine's socket, so
# `docker system dial-stdio` reaches that engine.
fleet_ssh() {
  local d=$FLEET_DIR/ssh
  mkdir -p "$d" "$FLEET_DIR/bin"; chmod 700 "$d"
  [ -s "$d/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C rbake-fleet-host -f "$d/host_ed25519_key"
  [ -s "$d/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C rbake-fleet-client -f "$d/id_ed25519"
  write_if_changed "$d/authorized_keys" \
    "environment=\"DOCKER_HOST=unix://$S_SOCK\",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty $(cat "$d/id_ed25519.pub")" || true
  chmod 600 "$d/authorized_keys"
  write_if_changed "$d/known_hosts" "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$d/host_ed25519_key.pub")" || true
  write_if_changed "$d/sshd_config" "Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $d/host_ed25519_key
PidFile $SSHD_PIDFILE
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitUserEnvironment DOCKER_HOST
AllowTcpForwarding no
X11Forwarding no
LogLevel VERBOSE" || true
  write_if_changed "$d/ssh_config" "Host *
  IdentityFile $d/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes" || true
  write_if_changed "$FLEET_DIR/bin/ssh" "#!/bin/sh
exec /usr/bin/ssh -F $d/ssh_config \"\$@\"" || true
  chmod 755 "$FLEET_DIR/bin/ssh"
}

ping_tls() {
  curl -sf -m 3 --cacert "$FLEET_DIR/tls/client/ca.pem" --cert "$FLEET_DIR/tls/client/cert.pem" \
    --key "$FLEET_DIR/tls/client/key.pem" "https://$T_ADDR/_ping" >/dev/null 2>&1
}
ping_sshd() { "$FLEET_DIR/bin/ssh" -p "$SSHD_PORT" root@127.0.0.1 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

up_fleet() {
  [ -x "$DOCKERD26" ] || die "$DOCKERD26 missing: run '$0 install' first"
  [ -x /usr/sbin/sshd ] || die "sshd missing (openssh-server): run '$0 install' first"
  mkdir -p "$T_ROOT" "$T_DATA_ROOT" "$S_ROOT" "$S_DATA_ROOT"
  fleet_certs
  fleet_ssh
  local t=$FLEET_DIR/tls/server
  # The TLS engine: the containerd store (as the main Docker 26), a unix socket for this
  # script and tcp://127.0.0.1:2376 with --tlsverify for rbake.
  start_dockerd "docker 26 tls" "$T_SOCK" "$T_PIDFILE" "$T_EXEC_ROOT" "$LOG_DIR/dockerd-tls.log" "$D26_PATH" \
    "$DOCKERD26" --config-file "$D26_CONFIG" -H "unix://$T_SOCK" -H "tcp://$T_ADDR" \
    --tlsverify --tlscacert "$t/ca.pem" --tlscert "$t/cert.pem" --tlskey "$t/key.pem" \
    --data-root "$T_DATA_ROOT" --exec-root "$T_EXEC_ROOT" --pidfile "$T_PIDFILE" \
    --bridge none --iptables=false
  wait_until "docker 26 tls (tcp://$T_ADDR)" "$LOG_DIR/dockerd-tls.log" "" ping_tls
  # The ssh engine: the classic store, so its loads are one image per platform.
  write_if_changed "$S_CONFIG" '{ "features": { "buildkit": true } }' || true
  start_dockerd "docker 26 ssh" "$S_SOCK" "$S_PIDFILE" "$S_EXEC_ROOT" "$LOG_DIR/dockerd-ssh.log" "$D26_PATH" \
    "$DOCKERD26" --config-file "$S_CONFIG" -H "unix://$S_SOCK" \
    --data-root "$S_DATA_ROOT" --exec-root "$S_EXEC_ROOT" --pidfile "$S_PIDFILE" \
    --bridge none --iptables=false
  local log=$LOG_DIR/sshd.log
  if ! pid_alive "$SSHD_PIDFILE" sshd; then
    mkdir -p /run/sshd
    /usr/sbin/sshd -t -f "$FLEET_DIR/ssh/sshd_config" >>"$log" 2>&1 || { show_log "$log"; die "sshd rejects $FLEET_DIR/ssh/sshd_config"; }
    echo "==== $(date -Is) starting sshd" >>"$log"
    # -E: its log goes to our file, not syslog. It daemonizes and writes its pidfile.
    /usr/sbin/sshd -f "$FLEET_DIR/ssh/sshd_config" -E "$log" 9>&- || { show_log "$log"; die "sshd did not start"; }
  fi
  wait_until "sshd (127.0.0.1:$SSHD_PORT)" "$log" "" ping_sshd
  say "fleet: tls engine on tcp://$T_ADDR (pid $(cat "$T_PIDFILE")), ssh engine as $SSH_URL (sshd pid $(cat "$SSHD_PIDFILE"))"
}

# The fleet's engines get the base images from the main Docker 26 (save | load: no build).
fleet_base_images() {
  local sock tag have want
  for sock in "$T_SOCK" "$S_SOCK"; do
    ping_sock "$sock" || die "$sock is not answering: run '$0 up' first"
    for tag in amd64 arm64 armv7; do
      want=$(DOCKER_HOST=unix://$D26_SOCK "$DOCKER26" image inspect "$BASE_REPO:$tag" --format '{{index .Config.Labels "org.rbake.rootfs"}} {{.Architecture}}')
      have=$(DOCKER_HOST=unix://$sock "$DOCKER26" image inspect "$BASE_REPO:$tag" \
              --format '{{index .Config.Labels "org.rbake.rootfs"}} {{.Architecture}}' 2>/dev/null || true)
      if [ "$have" = "$want" ]; then continue; fi
      DOCKER_HOST=unix://$D26_SOCK "$DOCKER26" save "$BASE_REPO:$tag" |
        DOCKER_HOST=unix://$sock "$DOCKER26" load -q >>"$LOG_DIR/base-images.log" 2>&1 ||
        die "loading $BASE_REPO:$tag into $sock failed (log: $LOG_DIR/base-images.log)"
      say "fleet: $BASE_REPO:$tag loaded into unix://$sock"
    done
  done
}

# ---- base images -------------------------------------------------------------------------
# make_context TAG DEBARCH -> prints the context dir; rootfs = static busybox + applet links.
make_context() {
  local tag=$1 debarch=$2 deb ctx tmp a
  deb=$(fetch_deb "busybox-static:$debarch" "busybox-static_*_$debarch.deb")
  ctx=$BASE_DIR/$tag
  local want
  want="$(basename "$deb") ${BUSYBOX_APPLETS[*]}"
  if [ -f "$ctx/.stamp" ] && [ "$(cat "$ctx/.stamp")" = "$want" ]; then echo "$ctx"; return; fi
  rm -rf "$ctx"; mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp"
  chmod 1777 "$ctx/rootfs/tmp"
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  install -m 755 "$tmp/bin/busybox" "$ctx/rootfs/bin/busybox"
  rm -rf "$tmp"
  for a in "${BUSYBOX_APPLETS[@]}"; do ln -s busybox "$ctx/rootfs/bin/$a"; done
  printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' >"$ctx/Dockerfile"
  echo "$want" >"$ctx/.stamp"
  echo "$ctx"
}

# The label ties an image to the exact rootfs it was built from, so a rebuild is skipped
# only when nothing changed.
ctx_digest() { (cd "$1" && find . -path ./.stamp -prune -o -print0 | LC_ALL=C sort -z | xargs -0 tar --no-recursion --mtime=@0 --owner=0 --group=0 -cf - | sha256sum | cut -c1-16); }

# build_base ENGINE CLI SOCK TAG PLATFORM ARCH VARIANT CTX
build_base() {
  local engine=$1 cli=$2 sock=$3 tag=$4 platform=$5 arch=$6 variant=$7 ctx=$8
  local ref=$BASE_REPO:$tag digest have log=$LOG_DIR/base-images.log extra=()
  digest=$(ctx_digest "$ctx")
  have=$(DOCKER_HOST=unix://$sock "$cli" image inspect "$ref" \
          --format '{{index .Config.Labels "org.rbake.rootfs"}} {{.Architecture}}' 2>/dev/null || true)
  if [ "${RBAKE_REBUILD:-0}" != 1 ] && [ "$have" = "$digest $arch" ]; then
    say "$engine: $ref up to date"
  else
    # Docker 26's 'docker build' is buildx: keep the base image a plain single manifest.
    [ "$engine" = "docker 26" ] && extra=(--provenance=false --sbom=false)
    echo "==== $(date -Is) $engine build $ref ($platform)" >>"$log"
    DOCKER_BUILDKIT=1 DOCKER_HOST=unix://$sock "$cli" build --progress plain \
      --platform "$platform" --network none --label "org.rbake.rootfs=$digest" \
      "${extra[@]}" -t "$ref" "$ctx" >>"$log" 2>&1 || { show_log "$log"; die "$engine: building $ref failed"; }
    say "$engine: built $ref ($platform)"
  fi
  local got want=$arch
  [ "$variant" != - ] && want="$arch/$variant"
  got=$(DOCKER_HOST=unix://$sock "$cli" image inspect "$ref" --format '{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}')
  [ "$got" = "linux/$want" ] || die "$engine: $ref is $got, expected linux/$want"
}

# run_check ENGINE CLI SOCK TAG PLATFORM UNAME: the image really runs (under qemu if foreign).
run_check() {
  local engine=$1 cli=$2 sock=$3 tag=$4 platform=$5 want=$6 out
  out=$(DOCKER_HOST=unix://$sock "$cli" run --rm --pull never --platform "$platform" --network none \
        "$BASE_REPO:$tag" uname -m 2>&1) || die "$engine: docker run $BASE_REPO:$tag failed: $out"
  [ "$out" = "$want" ] || die "$engine: $BASE_REPO:$tag printed '$out' for uname -m, expected '$want'"
  say "$engine: run $BASE_REPO:$tag uname -m -> $out"
}

do_base_images() {
  mkdir -p "$BASE_DIR" "$LOG_DIR"
  ping_sock "$D20_SOCK" || die "docker 20.10 is not answering on $D20_SOCK: run '$0 up' first"
  ping_sock "$D26_SOCK" || die "docker 26 is not answering on $D26_SOCK: run '$0 up' first"
  [ -x "$BUILDX_PLUGIN" ] || die "buildx plugin missing (Docker 26's 'docker build' needs it): run '$0 install'"
  binfmt_enabled || die "qemu binfmt handlers not enabled: run '$0 up'"
  local spec tag debarch platform arch variant uname ctx
  for spec in "${BASE_SPECS[@]}"; do
    read -r tag debarch platform arch variant uname <<<"$spec"
    ctx=$(make_context "$tag" "$debarch")
    build_base "docker 20.10" "$DOCKER20" "$D20_SOCK" "$tag" "$platform" "$arch" "$variant" "$ctx"
    build_base "docker 26" "$DOCKER26" "$D26_SOCK" "$tag" "$platform" "$arch" "$variant" "$ctx"
  done
  for spec in "${BASE_SPECS[@]}"; do
    read -r tag debarch platform arch variant uname <<<"$spec"
    run_check "docker 20.10" "$DOCKER20" "$D20_SOCK" "$tag" "$platform" "$uname"
  done
  run_check "docker 26" "$DOCKER26" "$D26_SOCK" arm64 linux/arm64 aarch64
  fleet_base_images
}

# ---- verify ------------------------------------------------------------------------------
# End-to-end smoke test of what the project's tests rely on.
do_verify() {
  local fail=0 t out
  ping_sock "$D20_SOCK" && say "ok: docker 20.10 answers /_ping" || { warn "docker 20.10 down"; fail=1; }
  ping_sock "$D26_SOCK" && say "ok: docker 26 answers /_ping" || { warn "docker 26 down"; fail=1; }
  ping_registry && say "ok: registry answers GET /v2/" || { warn "registry down"; fail=1; }
  binfmt_enabled && say "ok: qemu-aarch64 and qemu-arm enabled" || { warn "binfmt handlers missing"; fail=1; }
  [ $fail = 0 ] || die "stack is not up: run '$0 up'"

  # Docker 26 stores images through containerd's snapshotter (what multi-platform needs).
  out=$(curl -sf --unix-socket "$D26_SOCK" http://localhost/info | jq -r '.DriverStatus // [] | map(select(.[0]=="driver-type")) | .[0][1] // ""')
  [ "$out" = io.containerd.snapshotter.v1 ] && say "ok: docker 26 uses the containerd image store" ||
    die "docker 26 does not use the containerd snapshotter (driver-type '$out')"

  # Both engines push to the loopback registry without TLS; read the manifest back over HTTP.
  local repo=rbake-selftest/busybox eng cli sock
  for eng in 20.10 26; do
    if [ $eng = 20.10 ]; then cli=$DOCKER20 sock=$D20_SOCK; else cli=$DOCKER26 sock=$D26_SOCK; fi
    DOCKER_HOST=unix://$sock "$cli" image inspect "$BASE_REPO:amd64" >/dev/null 2>&1 ||
      die "docker $eng has no $BASE_REPO:amd64: run '$0 base-images'"
    t=$REG_ADDR/$repo:engine$eng
    DOCKER_HOST=unix://$sock "$cli" tag "$BASE_REPO:amd64" "$t"
    DOCKER_HOST=unix://$sock "$cli" push "$t" >"$LOG_DIR/verify-push.log" 2>&1 ||
      { show_log "$LOG_DIR/verify-push.log"; die "docker $eng: push $t failed"; }
    DOCKER_HOST=unix://$sock "$cli" rmi "$t" >/dev/null
    out=$(curl -sf -o /dev/null -w '%{http_code} %{content_type}' \
      -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
      "http://$REG_ADDR/v2/$repo/manifests/engine$eng") || die "registry has no $repo:engine$eng after push"
    say "ok: docker $eng pushed $t; registry serves it ($out)"
  done

  # Foreign-arch RUN through BuildKit under qemu, offline, on both engines.
  local ctx; ctx=$(mktemp -d)
  printf 'FROM %s\nRUN uname -m > /arch.txt && cat /arch.txt\n' "$BASE_REPO:arm64" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=1 DOCKER_HOST=unix://$D20_SOCK "$DOCKER20" build -q --platform linux/arm64 --network none \
    -t rbake-selftest/run:arm64 "$ctx" >/dev/null 2>"$LOG_DIR/verify-build.log" ||
    { show_log "$LOG_DIR/verify-build.log"; die "docker 20.10: arm64 RUN build failed"; }
  out=$(DOCKER_HOST=unix://$D20_SOCK "$DOCKER20" run --rm --pull never --platform linux/arm64 --network none rbake-selftest/run:arm64 cat /arch.txt)
  [ "$out" = aarch64 ] || die "docker 20.10: arm64 RUN step saw '$out'"
  say "ok: docker 20.10 BuildKit arm64 RUN uname -m -> $out"
  DOCKER_BUILDKIT=1 DOCKER_HOST=unix://$D26_SOCK "$DOCKER26" build -q --platform linux/arm64 --network none \
    --provenance=false -t rbake-selftest/run:arm64 "$ctx" >/dev/null 2>"$LOG_DIR/verify-build.log" ||
    { show_log "$LOG_DIR/verify-build.log"; die "docker 26: arm64 RUN build failed"; }
  out=$(DOCKER_HOST=unix://$D26_SOCK "$DOCKER26" run --rm --pull never --platform linux/arm64 --network none rbake-selftest/run:arm64 cat /arch.txt)
  [ "$out" = aarch64 ] || die "docker 26: arm64 RUN step saw '$out'"
  say "ok: docker 26 BuildKit arm64 RUN uname -m -> $out"
  DOCKER_HOST=unix://$D20_SOCK "$DOCKER20" rmi rbake-selftest/run:arm64 >/dev/null
  DOCKER_HOST=unix://$D26_SOCK "$DOCKER26" rmi rbake-selftest/run:arm64 >/dev/null

  # The buildx peer: version, and bake --print (no build) on a trivial bake file.
  printf 'group "default" {\n  targets = ["app"]\n}\ntarget "app" {\n  context = "."\n  platforms = ["linux/amd64", "linux/arm64"]\n  tags = ["%s/rbake-selftest/app:latest"]\n}\n' "$REG_ADDR" >"$ctx/docker-bake.hcl"
  out=$(DOCKER_HOST=unix://$D20_SOCK "$DOCKER20" buildx version) || die "docker buildx version failed"
  say "ok: $out"
  (cd "$ctx" && DOCKER_HOST=unix://$D20_SOCK "$DOCKER20" buildx bake --print >"$LOG_DIR/verify-bake.json" 2>"$LOG_DIR/verify-bake.log") ||
    { show_log "$LOG_DIR/verify-bake.log"; die "docker buildx bake --print failed"; }
  jq -e '.target.app.platforms | length == 2' "$LOG_DIR/verify-bake.json" >/dev/null ||
    die "bake --print output unexpected (see $LOG_DIR/verify-bake.json)"
  say "ok: docker buildx bake --print -> target app, platforms $(jq -c .target.app.platforms "$LOG_DIR/verify-bake.json")"
  rm -rf "$ctx"
  say "verify: all checks passed"
}

# ---- down / status / env -----------------------------------------------------------------
do_down() {
  stop_pidfiles "sshd|$SSHD_PIDFILE|sshd" "docker 26 ssh|$S_PIDFILE|dockerd" "docker 26 tls|$T_PIDFILE|dockerd" \
    "registry|$REG_PIDFILE|docker-registry" "docker 26|$D26_PIDFILE|dockerd" \
    "docker 20.10|$D20_PIDFILE|dockerd"
  # binfmt handlers stay registered: they cost nothing and other tools may use them.
}

do_status() {
  local up=0 total=7
  owner() { pid_alive "$1" "$2" && echo "pid $(cat "$1")" || echo "not started by stack.sh"; }
  if binfmt_enabled; then say "binfmt:       qemu-aarch64, qemu-arm enabled ($(qemu-aarch64-static --version 2>/dev/null | head -n 1))"; up=$((up + 1))
  else say "binfmt:       qemu handlers NOT enabled"; fi
  if ping_sock "$D20_SOCK"; then
    say "docker 20.10: up   unix://$D20_SOCK  $(owner "$D20_PIDFILE" dockerd)  $(engine_version "$D20_SOCK")"; up=$((up + 1))
  else say "docker 20.10: down (unix://$D20_SOCK)"; fi
  if ping_sock "$D26_SOCK"; then
    say "docker 26:    up   unix://$D26_SOCK  $(owner "$D26_PIDFILE" dockerd)  $(engine_version "$D26_SOCK")"; up=$((up + 1))
  else say "docker 26:    down (unix://$D26_SOCK)"; fi
  if ping_registry; then
    say "registry:     up   http://$REG_ADDR  $(owner "$REG_PIDFILE" docker-registry)  $(docker-registry --version 2>/dev/null | awk '{print $NF}')"; up=$((up + 1))
  else say "registry:     down (http://$REG_ADDR)"; fi
  if ping_sock "$T_SOCK" && ping_tls; then
    say "docker 26 tls: up  tcp://$T_ADDR (--tlsverify) and unix://$T_SOCK  $(owner "$T_PIDFILE" dockerd)  $(engine_version "$T_SOCK")"; up=$((up + 1))
  else say "docker 26 tls: down (tcp://$T_ADDR)"; fi
  if ping_sock "$S_SOCK"; then
    say "docker 26 ssh: up  unix://$S_SOCK  $(owner "$S_PIDFILE" dockerd)  $(engine_version "$S_SOCK")"; up=$((up + 1))
  else say "docker 26 ssh: down (unix://$S_SOCK)"; fi
  if [ -x "$FLEET_DIR/bin/ssh" ] && ping_sshd; then
    say "sshd:         up   $SSH_URL -> unix://$S_SOCK  $(owner "$SSHD_PIDFILE" sshd)  (PATH=$FLEET_DIR/bin for its ssh config)"; up=$((up + 1))
  else say "sshd:         down ($SSH_URL)"; fi
  if [ -x "$BUILDX_PLUGIN" ]; then say "buildx:       $("$BUILDX_PLUGIN" version 2>/dev/null) ($BUILDX_PLUGIN)"
  else say "buildx:       not installed"; fi
  say "clients:      20.10 $DOCKER20, 26 $DOCKER26; logs in $LOG_DIR"
  say "$up/$total services up"
  [ $up = $total ]
}

# For tests and CI: eval "$(scripts/stack.sh env)"
do_env() {
  cat <<EOF
export RBAKE_DOCKER20_HOST=unix://$D20_SOCK
export RBAKE_DOCKER26_HOST=unix://$D26_SOCK
export RBAKE_DOCKER20_CLI=$DOCKER20
export RBAKE_DOCKER26_CLI=$DOCKER26
export RBAKE_REGISTRY=$REG_ADDR
export RBAKE_FLEET_TLS_HOST=tcp://$T_ADDR
export RBAKE_FLEET_TLS_SOCK=unix://$T_SOCK
export RBAKE_FLEET_CERTS=$FLEET_DIR/tls/client
export RBAKE_FLEET_OTHER_CERTS=$FLEET_DIR/tls/other-client
export RBAKE_FLEET_SSH_HOST=$SSH_URL
export RBAKE_FLEET_SSH_SOCK=unix://$S_SOCK
export RBAKE_FLEET_SSH_BIN=$FLEET_DIR/bin
EOF
}

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

main() {
  [ $# -gt 0 ] || usage 2
  local cmd
  for cmd in "$@"; do
    case $cmd in
      install|up|base-images|verify|down|status|env) ;;
      -h|--help|help) usage 0 ;;
      *) echo "unknown subcommand: $cmd" >&2; usage 2 ;;
    esac
  done
  for cmd in "$@"; do
    case $cmd in
      env) do_env ;;
      status) do_status ;;
      *)
        need_root; take_lock; mkdir -p "$LOG_DIR"
        case $cmd in
          install) timed install do_install ;;
          up) timed up do_up ;;
          base-images) timed base-images do_base_images ;;
          verify) timed verify do_verify ;;
          down) timed down do_down ;;
        esac ;;
    esac
  done
}

main "$@"
