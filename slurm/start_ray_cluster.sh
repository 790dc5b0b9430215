# shellcheck shell=bash
# A Ray cluster over the nodes of this SLURM job: the Ray head on the job's first node and a Ray worker on
# each of the others, each one `srun` step running `ray start --block` (Ray's documented pattern,
# docs.ray.io "Deploying on Slurm"). Sourced, not run, so that the job script holds the steps and can
# stop them:
#
#     source slurm/start_ray_cluster.sh
#     trap stop_ray_cluster EXIT
#     start_ray_cluster          # returns once every node has joined; sets RAY_HEAD_ADDRESS=ip:port
#     python studies/full.py --address "$RAY_HEAD_ADDRESS" ...
#
# Each node offers Ray what SLURM gave its task (SLURM_CPUS_PER_TASK, the GPUs of --gpus-per-task or of
# CUDA_VISIBLE_DEVICES), not what the machine has: on a shared node Ray would otherwise schedule trials
# on other jobs' cores and GPUs.
#
# Settings, from the environment (the defaults suit nodes the job has to itself):
#   RAY_PORT           the head's port (6379)
#   RAY_TEMP_DIR       Ray's temporary folder on every node (/tmp/ray-JOBID: one per job, and short, as
#                      Ray's socket paths must be)
#   RAY_HEAD_ARGS      more `ray start` arguments for the head, e.g. "--include-dashboard=false"
#   RAY_WORKER_ARGS    more `ray start` arguments for the workers, e.g. fixed ports a firewall lets through
#   RAY_START_TIMEOUT  seconds the head may take to answer, and every node to join (300)

# Ray's token authentication off unless the user chose it: the head, the workers and the study's driver
# (raysym.ray_session) must agree on it.
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
RAY_STEP_PIDS=()

ray_slurm_cpus() {
    # The CPUs SLURM gave each task (empty if the job did not say: Ray then counts the node's).
    echo "${SLURM_CPUS_PER_TASK:-${SLURM_CPUS_ON_NODE:-}}"
}

ray_slurm_gpus() {
    # The GPUs SLURM gave each task: --gpus-per-task (maybe TYPE:COUNT), --gpus-per-node, else the devices
    # it made visible; 0 without any, so Ray never claims a GPU of another job.
    local gpus="${SLURM_GPUS_PER_TASK:-${SLURM_GPUS_ON_NODE:-}}"
    if [[ -n $gpus ]]; then
        echo "${gpus##*:}"
    elif [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
        local devices
        IFS=, read -ra devices <<<"$CUDA_VISIBLE_DEVICES"
        echo "${#devices[@]}"
    else
        echo 0
    fi
}

ray_active_nodes() {
    # How many nodes `ray status` lists as active; 0 at once while nothing listens at the head's port
    # (`ray status` would wait 30 s for it).
    if ! timeout 5 bash -c "exec 3<>/dev/tcp/${RAY_HEAD_ADDRESS%:*}/${RAY_HEAD_ADDRESS##*:}" 2>/dev/null; then
        echo 0
        return
    fi
    timeout 60 ray status --address "$RAY_HEAD_ADDRESS" 2>/dev/null |
        awk '/^Active:/ {active = 1; next} /^[A-Z]/ {active = 0} active && / node_/ {n++} END {print n + 0}'
}

ray_wait_for_nodes() {
    # Wait until $1 nodes are active; fail, saying which, if a `ray start` step ends or time runs out.
    local want=$1 deadline=$((SECONDS + ${RAY_START_TIMEOUT:-300})) pid
    until (($(ray_active_nodes) >= want)); do
        for pid in "${RAY_STEP_PIDS[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "start_ray_cluster: a \`ray start\` step ended before the cluster was up; see its output above" >&2
                return 1
            fi
        done
        if ((SECONDS >= deadline)); then
            echo "start_ray_cluster: only $(ray_active_nodes) of $want Ray nodes active at $RAY_HEAD_ADDRESS after ${RAY_START_TIMEOUT:-300} s" >&2
            return 1
        fi
        sleep 2
    done
}

start_ray_cluster() {
    local nodes head ip address port cpus gpus
    mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
    head=${nodes[0]}
    # The head's first IPv4 address (`hostname --ip-address` may list IPv6 ones too).
    for address in $(srun --nodes=1 --ntasks=1 -w "$head" hostname --ip-address); do
        if [[ $address == *.* ]]; then ip=$address; break; fi
    done
    ip=${ip:?start_ray_cluster: no IPv4 address for $head}
    port=${RAY_PORT:-6379}
    export RAY_HEAD_ADDRESS="$ip:$port"
    cpus=$(ray_slurm_cpus)
    gpus=$(ray_slurm_gpus)
    # What every node's `ray start` is given, and what its `srun` step asks SLURM for.
    local offer=(--num-gpus="$gpus" --temp-dir="${RAY_TEMP_DIR:-/tmp/ray-$SLURM_JOB_ID}" --disable-usage-stats)
    local ask=()
    if [[ -n $cpus ]]; then
        offer+=(--num-cpus="$cpus")
        ask+=(--cpus-per-task="$cpus")
    fi
    echo "start_ray_cluster: head on $head at $RAY_HEAD_ADDRESS; ${#nodes[@]} node(s) with ${cpus:-all} CPUs and $gpus GPUs each"

    # shellcheck disable=SC2086  # RAY_HEAD_ARGS and RAY_WORKER_ARGS are word lists
    srun --nodes=1 --ntasks=1 "${ask[@]}" -w "$head" \
        ray start --head --block --node-ip-address="$ip" --port="$port" "${offer[@]}" ${RAY_HEAD_ARGS:-} &
    RAY_STEP_PIDS+=($!)
    ray_wait_for_nodes 1 || return 1

    local workers=$((${#nodes[@]} - 1))
    if ((workers > 0)); then
        # One step for all workers: one task on each node but the head.
        # shellcheck disable=SC2086
        srun --nodes="$workers" --ntasks="$workers" --ntasks-per-node=1 "${ask[@]}" --exclude="$head" \
            ray start --block --address="$RAY_HEAD_ADDRESS" "${offer[@]}" ${RAY_WORKER_ARGS:-} &
        RAY_STEP_PIDS+=($!)
        ray_wait_for_nodes "${#nodes[@]}" || return 1
    fi
    echo "start_ray_cluster: ${#nodes[@]} Ray node(s) active"
    ray status --address "$RAY_HEAD_ADDRESS"
}

stop_ray_cluster() {
    # SIGTERM to each step's srun, which cancels its step: SLURM ends the step's `ray start --block` and
    # every process below it (the node's raylet and Ray workers). An srun still there after 30 s is killed.
    # Never `ray stop`: it would stop every Ray of this user on the node, another job's too.
    local pid deadline=$((SECONDS + 30))
    for pid in "${RAY_STEP_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${RAY_STEP_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    RAY_STEP_PIDS=()
}
