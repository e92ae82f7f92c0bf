#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (Debian 12, root, no systemd), for the SLURM executor's
# test. Prints the two variables clients need. State lives under $GDW_SLURM_DIR (default .slurm-local).
# Design notes: munge and the daemons run from our own folder (no system services); accounting is
# off, so a small `sacct` stand-in built on `squeue` lets submitit see failed or cancelled jobs;
# DefMemPerCPU keeps jobs without --mem from taking the whole node; the scheduler intervals are 1 s
# because CI's jobs last seconds.
set -euo pipefail
DIR=$(realpath -m "${GDW_SLURM_DIR:-.slurm-local}")

need_packages() { ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; }
if need_packages; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null 2>&1
fi
mkdir -p "$DIR"/{munge,state,spool,log,run,bin}

[ -s "$DIR/munge/munge.key" ] || mungekey --create --keyfile="$DIR/munge/munge.key" --force
chown -R munge:munge "$DIR/munge"
chmod 400 "$DIR/munge/munge.key"; chmod 755 "$DIR/munge"
runuser -u munge -- munged --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket.2" \
  --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"

HOST=$(hostname -s)
NODE=$(slurmd -C | head -n 1)  # NodeName=<host> CPUs=… RealMemory=…, as slurmd itself sees the machine
cat > "$DIR/slurm.conf" <<CONF
ClusterName=gdwlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
KillWait=5
MinJobAge=3600
MailProg=/bin/true
$NODE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

# `sacct` without accounting: answer submitit's `sacct -o JobID,State,NodeList --parsable2 -j ID…`
# from squeue (finished jobs stay listed for MinJobAge seconds).
cat > "$DIR/bin/sacct" <<'SACCT'
#!/usr/bin/env bash
wanted=","
while [ $# -gt 0 ]; do
  case "$1" in
    -j|--jobs) wanted="$wanted$2,"; shift 2 ;;
    -j*) wanted="$wanted${1#-j},"; shift ;;
    --jobs=*) wanted="$wanted${1#--jobs=},"; shift ;;
    *) shift ;;
  esac
done
echo "JobID|State|NodeList"
squeue -h -t all -o "%i|%T|%N" | while IFS='|' read -r id state nodes; do
  array_id=${id%%_*}
  if [ "$wanted" = "," ] || [[ "$wanted" == *",$id,"* ]] || [[ "$wanted" == *",$array_id,"* ]]; then
    echo "$id|$state|$nodes"
  fi
done
SACCT
chmod +x "$DIR/bin/sacct"

export SLURM_CONF="$DIR/slurm.conf"
slurmctld -i
slurmd
for _ in $(seq 1 150); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
if ! sinfo -h -o %T | grep -qx idle; then
  echo "the local SLURM node did not become idle" >&2; sinfo >&2 || true; tail -n 20 "$DIR"/log/*.log >&2
  exit 1
fi
echo "export SLURM_CONF=$DIR/slurm.conf PATH=$DIR/bin:\$PATH"
