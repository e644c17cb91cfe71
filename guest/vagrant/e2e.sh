#!/bin/bash
# The Vagrant path end to end on one machine, with libvirt and the local box (guest/vagrant/build-box.sh):
#   box build -> libvirtd in a network namespace of its own (tcplab-<id>-vagrant) -> vagrant up linux
#   -> `sudo npm run lab:reuse` inside the VM -> `tcplab run timewait-syn --target ssh:linux` from this
#   machine (inside that namespace, where the VM's lab network 198.18.250.0/24 is) -> `tcplab run reuse
#   --target ssh:linux` (the VM's kernel the client, a namespace on its link the server) -> vagrant destroy
#   -> everything put back: box, storage pool and volumes, libvirt networks, libvirtd, the namespace,
#   /etc/libvirt/qemu.conf (its settings for this run are the notes' fixes for TCG-only machines).
# Clean-up of an interrupted run (also run at the start, and on exit, Ctrl-C or error):
#   sudo bash guest/vagrant/e2e.sh clean
# Wall times of each step go to stdout and are appended to .cache/vagrant/e2e-times.txt; the logs to .cache/vagrant/e2e-logs/.
# Exit 0 only when every step worked and both labs passed.
# Env: TCPLAB_E2E_KEEP=1 keeps the VM up after the labs, passed or not (clean-up runs on the next start / clean);
#      TCPLAB_VM_UPLINK=1 gives the namespace a NATed uplink through this machine for the duration of
#      a reachability probe (can the VM reach the Debian mirror and the npm registry?), then removes it.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
# The namespace is tcplab-<id>-vagrant with a run journal /run/tcplab/<id>.json naming this script's
# pid: the project's own leftover clean-up (`tcplab clean`, cleanLeftovers() in other test runs on this
# machine) deletes every tcplab- namespace without a live run and kills what runs in it; a plain
# "tcplab-vagrant" was deleted in the middle of a run here (libvirtd, qemu and the lab killed).
RUN_DIR=/run/tcplab
new_ns() { RUNID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n'); NS=tcplab-$RUNID-vagrant; }
BOX=tcplab-bookworm
POOL=tcplab-vagrant
OUT=$here/.cache/vagrant
STATE=$OUT/state
LOGS=$OUT/e2e-logs
POOLDIR=$OUT/pool
QCONF=/etc/libvirt/qemu.conf
QBAK=$STATE/qemu.conf.orig
PIDFILE=$STATE/libvirtd.pid
TIMES=$OUT/e2e-times.txt
if [ -f "$STATE/ns" ]; then NS=$(cat "$STATE/ns"); RUNID=${NS#tcplab-}; RUNID=${RUNID%-vagrant}; else new_ns; fi
# The pid is this script's until libvirtd runs, then libvirtd's: with TCPLAB_E2E_KEEP=1 the VM outlives
# the script, and a journal naming a dead pid would let that clean-up take the namespace (and the VM).
journal() {
  mkdir -p "$RUN_DIR" "$STATE"; echo "$NS" > "$STATE/ns"
  printf '{"runId":"%s","pid":%s,"startedAt":"%s","namespaces":["%s"],"sysctls":[]}\n' "$RUNID" "${1:-$$}" "$(date -u +%FT%TZ)" "$NS" > "$RUN_DIR/$RUNID.json"
}
export VAGRANT_HOME=$OUT/home VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_BOX_UPDATE_CHECK_DISABLE=1
export TCPLAB_BOX=$BOX TCPLAB_LIBVIRT_POOL=$POOL TCPLAB_LIBVIRT_DRIVER=${TCPLAB_LIBVIRT_DRIVER:-qemu}
export LIBVIRT_DEFAULT_URI=qemu:///system
# Sync this machine's build into the VM instead of `npm ci` there (13 of `vagrant up`'s 17.5 minutes under
# TCG): the box carries this machine's Node on the same Debian release, so the addon loads as built here.
# TCPLAB_VM_PREBUILT=0 measures the full path (provision builds in the VM).
export TCPLAB_VM_PREBUILT=${TCPLAB_VM_PREBUILT:-1}
[ "$(id -u)" = 0 ] || { echo "e2e.sh: run as root" >&2; exit 1; }

log() { echo "e2e: $*" >&2; }
inns() { ip netns exec "$NS" "$@"; }
has_ns() { ip netns list | awk '{ print $1 }' | grep -qx "$NS"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
libvirtd_pid() { local p; p=$(cat "$PIDFILE" 2>/dev/null) || return 1; [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"; }

start_libvirtd() {
  journal
  has_ns || { ip netns add "$NS"; ip -n "$NS" link set lo up; }
  if p=$(libvirtd_pid); then journal "$p"; return 0; fi
  rm -f "$PIDFILE"
  if [ -S /run/libvirt/libvirt-sock ] && virsh -c qemu:///system version >/dev/null 2>&1; then
    echo "e2e.sh: another libvirtd answers on /run/libvirt/libvirt-sock: stop it first (this script runs its own in $NS)" >&2
    return 1
  fi
  mkdir -p "$STATE"
  inns libvirtd -d -p "$PIDFILE"
  for _ in $(seq 100); do virsh version >/dev/null 2>&1 && { journal "$(libvirtd_pid)"; return 0; }; sleep 0.2; done
  echo "e2e.sh: libvirtd did not answer within 20 s" >&2
  return 1
}

stop_libvirtd() {
  local p
  p=$(libvirtd_pid) || { rm -f "$PIDFILE"; return 0; }
  kill -TERM "$p"
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p"
  rm -f "$PIDFILE"
}

qemu_conf_set() {
  mkdir -p "$STATE"
  [ -f "$QBAK" ] || cp -p "$QCONF" "$QBAK"
  # The notes' trap 1: libvirt re-probing QEMU for every define when /dev/kvm is there but not usable.
  printf '\n# tcplab e2e.sh (put back by `e2e.sh clean`)\nuser = "root"\ngroup = "root"\nstdio_handler = "file"\nsecurity_driver = "none"\n' >> "$QCONF"
}

qemu_conf_restore() {
  if [ -f "$QBAK" ]; then cp -p "$QBAK" "$QCONF" && rm -f "$QBAK"; fi
}

uplink_down() {
  nft delete table ip tcplab-vagrant-uplink 2>/dev/null || true
  ip link del tcplab-vup0 2>/dev/null || true
  if [ -f "$STATE/ip_forward.orig" ]; then sysctl -qw net.ipv4.ip_forward="$(cat "$STATE/ip_forward.orig")"; rm -f "$STATE/ip_forward.orig"; fi
}

clean() {
  log "clean-up"
  # libvirt objects need a libvirtd: ours (started again if an interrupted run left definitions).
  local need=0
  ls /etc/libvirt/qemu/tcplab-*.xml /etc/libvirt/qemu/networks/tcplab-*.xml /etc/libvirt/storage/$POOL.xml >/dev/null 2>&1 && need=1
  libvirtd_pid >/dev/null && need=1
  if [ $need = 1 ]; then
    [ -f "$QBAK" ] || qemu_conf_set
    start_libvirtd || true
    if [ -d .vagrant/machines/linux/libvirt ]; then inns vagrant destroy -f linux >/dev/null 2>&1 || true; fi
    for d in $(virsh -q list --all --name | grep '^tcplab-' || true); do
      virsh -q destroy "$d" >/dev/null 2>&1 || true
      virsh -q undefine "$d" --nvram >/dev/null 2>&1 || virsh -q undefine "$d" >/dev/null 2>&1 || true
    done
    for n in $(virsh -q net-list --all --name | grep '^tcplab-' || true); do
      virsh -q net-destroy "$n" >/dev/null 2>&1 || true
      virsh -q net-undefine "$n" >/dev/null 2>&1 || true
    done
    if virsh -q pool-info "$POOL" >/dev/null 2>&1; then
      virsh -q pool-start "$POOL" >/dev/null 2>&1 || true
      for v in $(virsh -q vol-list "$POOL" 2>/dev/null | awk '{ print $1 }'); do virsh -q vol-delete "$v" --pool "$POOL" >/dev/null 2>&1 || true; done
      virsh -q pool-destroy "$POOL" >/dev/null 2>&1 || true
      virsh -q pool-undefine "$POOL" >/dev/null 2>&1 || true
    fi
    stop_libvirtd
  fi
  # A qemu or dnsmasq that outlived its libvirtd (SIGKILL): by the pid libvirt wrote for it.
  for f in /run/libvirt/qemu/tcplab-*.pid /run/libvirt/network/tcplab-*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
    rm -f "$f"
  done
  rm -f /var/lib/libvirt/dnsmasq/tcplab-* 2>/dev/null || true
  uplink_down
  if has_ns; then ip netns del "$NS"; fi
  # Namespaces of earlier runs whose script is gone (and their journals).
  for n in $(ip netns list | awk '{ print $1 }' | grep -E '^tcplab-[0-9a-f]{6}-vagrant$' || true); do
    id=${n#tcplab-}; id=${id%-vagrant}
    p=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$RUN_DIR/$id.json" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$p" != "$$" ] && kill -0 "$p" 2>/dev/null; then continue; fi
    ip netns del "$n" || true; rm -f "$RUN_DIR/$id.json"
  done
  rm -f "$RUN_DIR/$RUNID.json"
  qemu_conf_restore
  # Vagrant's side: the machine's state here, the box, and the run's Vagrant home.
  rm -rf .vagrant/machines/linux .vagrant/ssh-linux "$VAGRANT_HOME" "$POOLDIR"
  [ -e .vagrant/rgloader ] && [ -z "$(ls .vagrant/machines 2>/dev/null)" ] && rm -rf .vagrant/rgloader
  rmdir .vagrant/machines .vagrant 2>/dev/null || true
  rm -rf "$STATE"
}

if [ "${1:-}" = clean ]; then clean; exit 0; fi

step_t0=0
step() { step_name=$1; step_t0=$(date +%s.%N); log "== $step_name"; }
done_step() {
  printf '%-34s %7s s  %s\n' "$step_name" "$(elapsed "$step_t0")" "${1:-ok}" | tee -a "$TIMES"
}
# "kernel: linux 6.1.0-x-amd64, verdict: PASS (...)" out of a lab's text report.
summary() {
  local k v
  k=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^kernel: ' | tail -1 | sed 's/^kernel: //')
  v=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^verdict: ' | tail -1 | sed 's/^verdict: //; s/  */ /g')
  echo "kernel ${k:-?}, verdict ${v:-none}"
}
fail() { done_step "FAILED ($1)"; exit 1; }

finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${TCPLAB_E2E_KEEP:-}" = 1 ]; then log "TCPLAB_E2E_KEEP=1: the VM stays up (exit $rc); clean up with: sudo bash guest/vagrant/e2e.sh clean"; exit $rc; fi
  step "clean-up"; clean; done_step
  printf '%-34s %7s s  exit %s\n' total "$(elapsed "$T0")" "$rc" | tee -a "$TIMES"
  exit $rc
}

T0=$(date +%s.%N)
mkdir -p "$OUT" "$LOGS"
# Every run's times, newest last (the slow lane runs it three times in a row).
echo >> "$TIMES"
echo "# e2e.sh $(date -u +%FT%TZ) on $(uname -r), $(nproc) cores, driver $TCPLAB_LIBVIRT_DRIVER, prebuilt $TCPLAB_VM_PREBUILT" >> "$TIMES"
if [ "$TCPLAB_VM_PREBUILT" = 1 ] && { [ ! -f build/Release/tcplab.node ] || [ ! -f dist/src/cli.js ]; }; then
  echo "e2e.sh: TCPLAB_VM_PREBUILT=1 needs this checkout built (npm ci && npm run build), or set TCPLAB_VM_PREBUILT=0" >&2; exit 1
fi
step "clean-up of leftovers"; clean; done_step
trap finish EXIT
trap 'exit 130' INT TERM

step "box build"
sh guest/vagrant/build-box.sh > "$LOGS/build-box.log" 2>&1 || fail "see $LOGS/build-box.log"
done_step "$(tail -1 "$LOGS/build-box.log")"

step "libvirtd in $NS"
qemu_conf_set
start_libvirtd || fail "libvirtd"
# The package's default network would come up inside our namespace: not needed.
virsh -q net-destroy default >/dev/null 2>&1 || true
mkdir -p "$POOLDIR"
virsh -q pool-define-as "$POOL" dir --target "$POOLDIR" >/dev/null && virsh -q pool-build "$POOL" >/dev/null && virsh -q pool-start "$POOL" >/dev/null || fail "storage pool"
done_step

step "vagrant box add"
inns vagrant box add --force --name "$BOX" "$OUT/$BOX.box" > "$LOGS/box-add.log" 2>&1 || fail "see $LOGS/box-add.log"
done_step

step "vagrant up linux"
inns vagrant up linux --provider libvirt > "$LOGS/up.log" 2>&1 || fail "see $LOGS/up.log"
done_step

if [ "${TCPLAB_VM_UPLINK:-}" = 1 ]; then
  step "uplink probe"
  # A veth from the namespace to this machine, NATed out of it, only for this probe.
  cat /proc/sys/net/ipv4/ip_forward > "$STATE/ip_forward.orig"
  ip link add tcplab-vup0 type veth peer name tcplab-vup1 netns "$NS"
  ip addr add 198.19.255.253/30 dev tcplab-vup0; ip link set tcplab-vup0 up
  ip -n "$NS" addr add 198.19.255.254/30 dev tcplab-vup1; ip -n "$NS" link set tcplab-vup1 up
  ip -n "$NS" route add default via 198.19.255.253
  printf 'table ip tcplab-vagrant-uplink {\n chain post { type nat hook postrouting priority 100; policy accept; ip saddr 198.19.255.252/30 oifname != "tcplab-vup0" masquerade\n }\n chain fwd { type filter hook forward priority 0; policy accept; }\n}\n' | nft -f -
  sysctl -qw net.ipv4.ip_forward=1
  inns vagrant ssh linux -c 'set -x; getent hosts deb.debian.org registry.npmjs.org; timeout 60 sudo apt-get update -o Acquire::Retries=0 2>&1 | tail -3;
    timeout 30 node -e "fetch(\"https://registry.npmjs.org/node-addon-api\").then(r => console.log(\"npm registry: HTTP\", r.status), e => { console.log(\"npm registry:\", e.cause?.code ?? e.message); process.exit(1) })"' \
    > "$LOGS/uplink.log" 2>&1 && r=reached || r="not reached"
  uplink_down
  done_step "mirror/registry $r (see $LOGS/uplink.log)"
fi

step "lab:reuse in the VM"
set +e
inns vagrant ssh linux -c 'cd /vagrant && sudo npm run lab:reuse' > "$LOGS/lab-reuse.log" 2>&1
rc=$?
set -e
v=$(summary "$LOGS/lab-reuse.log")
# A lab that fails still lets the next step run (one verdict must not hide the other); exit 1 at the end.
labs_rc=0
if [ $rc = 0 ]; then done_step "exit 0, $v"; else labs_rc=1; done_step "FAILED (exit $rc, $v, see $LOGS/lab-reuse.log)"; fi

step "timewait-syn --target ssh:linux"
inns vagrant ssh-config linux > .vagrant/ssh-linux
set +e
inns node dist/src/cli.js run timewait-syn --target ssh:linux --json-file "$LOGS/timewait-syn-ssh.json" > "$LOGS/timewait-syn-ssh.log" 2>&1
rc=$?
set -e
v=$(summary "$LOGS/timewait-syn-ssh.log")
if [ $rc = 0 ]; then done_step "exit 0, $v"; else labs_rc=1; done_step "FAILED (exit $rc, $v, see $LOGS/timewait-syn-ssh.log)"; fi

step "reuse --target ssh:linux"
# Two hosts: the VM's kernel is the client (subject), a namespace of this machine on its link the server.
set +e
inns node dist/src/cli.js run reuse --target ssh:linux --json-file "$LOGS/reuse-ssh.json" > "$LOGS/reuse-ssh.log" 2>&1
rc=$?
set -e
v=$(summary "$LOGS/reuse-ssh.log")
if [ $rc = 0 ]; then done_step "exit 0, $v"; else labs_rc=1; done_step "FAILED (exit $rc, $v, see $LOGS/reuse-ssh.log)"; fi

[ "${TCPLAB_E2E_KEEP:-}" = 1 ] && exit $labs_rc
step "vagrant destroy"
inns vagrant destroy -f linux > "$LOGS/destroy.log" 2>&1 || fail "see $LOGS/destroy.log"
done_step
step "vagrant box remove"
inns vagrant box remove --force "$BOX" > "$LOGS/box-remove.log" 2>&1 || fail "see $LOGS/box-remove.log"
done_step
exit $labs_rc
