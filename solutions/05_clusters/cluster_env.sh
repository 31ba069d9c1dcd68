# cluster_env.sh: sourced by every job script of this folder, under Slurm or PBS (or none).
# It decides, on the node where the batch script runs, everything a multi-node job needs:
#   where the course and its Python environment are, how many ranks per node and threads per
#   rank (from the node's sockets and cores), pinning, the network fabric, MASTER_ADDR for
#   PyTorch, and the data staged once on the shared file system. Then `launch` starts the ranks.
# Every setting can be overridden by exporting it before sbatch/qsub (sbatch passes your
# environment to the job; with PBS use qsub -v NAME=value).

# -- 1. the scheduler and the course -----------------------------------------------------------------
if [ -n "${SLURM_JOB_ID:-}" ]; then
  SCHEDULER=slurm; JOB_ID=$SLURM_JOB_ID; SUBMIT_DIR=$SLURM_SUBMIT_DIR
  NODE_LIST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | tr '\n' ' ')
  CPUS_ON_NODE=${SLURM_CPUS_ON_NODE:-}
elif [ -n "${PBS_JOBID:-}" ]; then
  SCHEDULER=pbs; JOB_ID=${PBS_JOBID%%.*}; SUBMIT_DIR=$PBS_O_WORKDIR
  NODE_LIST=$(awk '!seen[$0]++' "$PBS_NODEFILE" | tr '\n' ' ')
  PBS_RANKS_PER_NODE=$(grep -cx "$(head -1 "$PBS_NODEFILE")" "$PBS_NODEFILE")  # mpiprocs of the select line
  CPUS_ON_NODE=${NCPUS:-}
else
  SCHEDULER=none; JOB_ID=$$; SUBMIT_DIR=$PWD; NODE_LIST=$(hostname); CPUS_ON_NODE=
fi
NODE_LIST=${NODE_LIST% }
NODES=$(echo "$NODE_LIST" | wc -w)
if [ -z "${COURSE_ROOT:-}" ]; then            # the folder above this one that holds src/clusterkit
  COURSE_ROOT=$SUBMIT_DIR
  while [ "$COURSE_ROOT" != / ] && [ ! -d "$COURSE_ROOT/src/clusterkit" ]; do COURSE_ROOT=$(dirname "$COURSE_ROOT"); done
fi
COURSE_VENV=${COURSE_VENV:-$COURSE_ROOT/.venv}
PYTHON=$COURSE_VENV/bin/python
PROGRAMS=${PROGRAMS:-$COURSE_ROOT/solutions}  # the finished programs; point it at your own copies if you like
RUN_DIR=${RUN_DIR:-$SUBMIT_DIR/runs/job-$JOB_ID}
export PATH="$COURSE_VENV/bin:$PATH"          # mpirun, hydra and python of the course environment
export PYTHONUNBUFFERED=1                     # every rank's print() reaches the output file at once
mkdir -p "$RUN_DIR"

# -- 2. ranks per node and threads per rank, from the node's sockets and cores ------------------------
SOCKETS=$(lscpu -p=SOCKET | grep -v '^#' | sort -u | wc -l)
CORES=$(lscpu -p=SOCKET,CORE | grep -v '^#' | sort -u | wc -l)
LOGICAL=$(lscpu -p=CPU | grep -v '^#' | wc -l)
THREADS_PER_CORE=$(( LOGICAL / CORES ))
JOB_CORES=$CORES                              # a shared node may give this job fewer cores than it has
if [ -n "$CPUS_ON_NODE" ] && [ $(( CPUS_ON_NODE / THREADS_PER_CORE )) -lt "$CORES" ]; then
  JOB_CORES=$(( CPUS_ON_NODE / THREADS_PER_CORE )); [ "$JOB_CORES" -ge 1 ] || JOB_CORES=1
fi
# the workshop's rule: one rank per socket, unless the job asked for more tasks per node
# (#SBATCH --ntasks-per-node, or mpiprocs in PBS's select line)
RANKS_PER_NODE=${RANKS_PER_NODE:-${SLURM_NTASKS_PER_NODE:-${PBS_RANKS_PER_NODE:-$SOCKETS}}}
THREADS_PER_RANK=${THREADS_PER_RANK:-$(( JOB_CORES / RANKS_PER_NODE ))}
[ "$THREADS_PER_RANK" -ge 1 ] || THREADS_PER_RANK=1
NRANKS=$(( NODES * RANKS_PER_NODE ))
export OMP_NUM_THREADS=$THREADS_PER_RANK
export I_MPI_PIN_DOMAIN=${I_MPI_PIN_DOMAIN:-omp}   # each rank gets a domain of OMP_NUM_THREADS cores
export I_MPI_PIN_ORDER=${I_MPI_PIN_ORDER:-compact}
export I_MPI_DEBUG=${I_MPI_DEBUG:-5}               # prints the rank / node / pinned-CPU table

# -- 3. the network fabric between the nodes --------------------------------------------------------
# tcp works on every cluster; on InfiniBand or Omni-Path set FI_PROVIDER=mlx, psm3 or verbs instead.
export FI_PROVIDER=${FI_PROVIDER:-tcp}
export I_MPI_FABRICS=${I_MPI_FABRICS:-shm:ofi}     # shared memory inside a node, libfabric between nodes
export FI_PROVIDER_PATH=${FI_PROVIDER_PATH:-$COURSE_VENV/lib}
# Horovod loads libmpi itself: without these, Intel MPI fails at start on more than one node with
# "failed to load libfabric.so.1" (one node never needs the network, so the trap hides there).
export I_MPI_OFI_LIBRARY=${I_MPI_OFI_LIBRARY:-$COURSE_VENV/lib/libfabric.so.1}

# -- 4. PyTorch's rendezvous: rank 0's node, a port derived from the job id -------------------------
export MASTER_ADDR=${MASTER_ADDR:-${NODE_LIST%% *}}
export MASTER_PORT=${MASTER_PORT:-$(( 20000 + JOB_ID % 20000 ))}

# -- 5. data, staged once on the shared file system before any rank starts ---------------------------
export CLUSTERKIT_DATA=${CLUSTERKIT_DATA:-$COURSE_ROOT/data}
stage_data() { "$PYTHON" -m clusterkit.rank.data; }

echo "job $JOB_ID ($SCHEDULER): $NODES node(s) [$NODE_LIST] x $RANKS_PER_NODE rank(s), $THREADS_PER_RANK thread(s) per rank"
echo "node: $SOCKETS socket(s), $CORES core(s), $THREADS_PER_CORE thread(s) per core; fabric $I_MPI_FABRICS, provider $FI_PROVIDER"

# -- 6. start the ranks: mpirun (hydra asks the scheduler for the nodes) or srun -----------------------
launch() {
  case "${LAUNCHER:-mpirun}" in
    mpirun)
      if [ "$SCHEDULER" = pbs ]; then
        mpirun -n "$NRANKS" -ppn "$RANKS_PER_NODE" -hosts "$(echo "$NODE_LIST" | tr ' ' ',')" -ordered-output "$@"
      else
        mpirun -n "$NRANKS" -ppn "$RANKS_PER_NODE" -ordered-output "$@"
      fi ;;
    srun)  # Slurm starts every rank itself; Intel MPI talks to it through PMI-2
      I_MPI_PMI_LIBRARY=${I_MPI_PMI_LIBRARY:-/usr/lib/x86_64-linux-gnu/libpmi2.so.0} \
        srun --mpi=pmi2 --ntasks="$NRANKS" --ntasks-per-node="$RANKS_PER_NODE" --cpus-per-task="$THREADS_PER_RANK" "$@" ;;
    *) echo "LAUNCHER must be mpirun or srun, not '$LAUNCHER'" >&2; return 2 ;;
  esac
}
