"""slurm.conf of the practice cluster: every path in the cluster's folder, no cgroups, no accounting."""
from __future__ import annotations

from clusterkit.machine.topology import local_topology

PARTITION = "course"
JOB_TASKS_PER_NODE = 2  # the ranks per node of the course's job scripts (#SBATCH --ntasks-per-node=2)


def slurm_conf_text(cluster, topology=None) -> str:
    """slurm.conf for the cluster's nodes, sized from this machine's topology (or the one given)."""
    topology = topology or local_topology()
    sockets = max(len(topology.sockets), 1)
    threads = max(topology.threads_per_core, 1)
    # each node has at least the cores a course job script asks for per node (a job asking for more would
    # wait forever, PartitionConfig); Slurm gives each task a whole core (CR_Core)
    cores = max(topology.n_cores // sockets, -(-JOB_TASKS_PER_NODE // sockets), 1)
    folder = cluster.path
    first = cluster.nodes[0]
    lines = [
        "# written by clusterkit.clusters.practice: a two-node practice cluster in network namespaces",
        f"ClusterName=dmlcpu{cluster.cluster_id}",
        f"SlurmctldHost={first.name}({first.address})",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={cluster.munge_socket}",
        f"StateSaveLocation={folder}/slurmctld",
        f"SlurmdSpoolDir={folder}/%n/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid",
        f"SlurmdPidFile={folder}/%n/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log",
        f"SlurmdLogFile={folder}/%n/slurmd.log",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/builtin",
        "MpiDefault=pmi2",
        "MailProg=/bin/true",
        "ReturnToService=2",
        "KillWait=2",
        "MinJobAge=600",
        "InactiveLimit=0",
        "MessageTimeout=10",
        "SlurmdTimeout=60",
        "PropagateResourceLimits=NONE",
        # slurmd takes the nodes' CPUs from here, not from the hardware it sees
        "SlurmdParameters=config_overrides",
        f"PlugStackConfig={folder}/plugstack.conf",
    ]
    for node in cluster.nodes:
        lines.append(
            f"NodeName={node.name} NodeAddr={node.address} CPUs={sockets * cores * threads} "
            f"Sockets={sockets} CoresPerSocket={cores} ThreadsPerCore={threads} RealMemory=1000 State=UNKNOWN"
        )
    # FORCE:2: two jobs may share a CPU, so a long job never blocks the next (a real cluster's partitions
    # usually say OverSubscribe=NO: one job per CPU)
    lines.append(
        f"PartitionName={PARTITION} Nodes={','.join(cluster.node_names)} Default=YES MaxTime=INFINITE "
        "State=UP OverSubscribe=FORCE:2"
    )
    return "\n".join(lines) + "\n"
