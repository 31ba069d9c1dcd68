"""What can go wrong with the practice cluster; every message says what to do."""


class ClusterError(RuntimeError):
    """The practice cluster did not do what was asked; the message says what to do."""


class ClusterUnavailable(ClusterError):
    """This machine cannot run the practice cluster (no root, no namespaces, no Slurm packages)."""


class NodeCommandFailed(ClusterError):
    """A command run inside a node exited non-zero."""
