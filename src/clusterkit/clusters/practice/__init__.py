"""The two-node practice Slurm cluster (see `cluster` for what it is and its network rule).

    from clusterkit.clusters import practice
    cluster = practice.start()      # or practice.load() for the one already up
"""
from clusterkit.clusters.practice.cluster import (PracticeCluster, default_folder, load, start,
                                                  unavailable_reason)
from clusterkit.clusters.practice.errors import ClusterError, ClusterUnavailable, NodeCommandFailed
from clusterkit.clusters.practice.network import DEFAULT_SUBNET
from clusterkit.clusters.practice.nodes import Node
from clusterkit.clusters.practice.shared_cores import AUTOGROUP, SHARED_CORES_ENV
from clusterkit.clusters.practice.slurm_conf import PARTITION, slurm_conf_text

__all__ = [
    "AUTOGROUP", "DEFAULT_SUBNET", "PARTITION", "SHARED_CORES_ENV", "ClusterError", "ClusterUnavailable",
    "Node", "NodeCommandFailed", "PracticeCluster", "default_folder", "load", "slurm_conf_text", "start",
    "unavailable_reason",
]
