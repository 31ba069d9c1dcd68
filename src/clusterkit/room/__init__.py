"""The room: one JupyterHub for a workshop, each learner with their own account, CPUs, files and server.

    make hub                               python -m clusterkit.room serve (the hub, the proxy, the idle culler)
    python -m clusterkit.room accounts add 20   the learners' local accounts, with a password each
    python -m clusterkit.room status       the instructor's view: who has a server where, who passed which check

`seats` (the seat map and each seat's CPUs), `accounts` (local learner accounts), `hub` (the authenticator and
the local spawner JupyterHub loads), `slurm_spawner` (the Slurm spawner: each server a batch job),
`practice_hub` (the hub inside the practice cluster's node1, and the forwarder that reaches it),
`jupyterhub_config` (the hub's configuration), `singleuser` (what a learner's server runs first), `view` (the
instructor's view).
"""
