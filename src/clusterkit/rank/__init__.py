"""The rank-side API: everything a per-rank script (run by mpirun, horovodrun or sbatch) may import.

    from clusterkit.rank import init_distributed, shard

It imports nothing heavier than NumPy at start-up, and nothing that needs a notebook."""
from clusterkit.machine.environment import runs_dir
from clusterkit.rank.artifacts import IMAGE_FILE, PALETTE_FILE, RUN_FILE, partition_path
from clusterkit.rank.data import ImageDataset, load_digits_dataset, sample_image, shard
from clusterkit.rank.horovod_env import RANK_ENV, ccl_unavailable_reason, require_horovod
from clusterkit.rank.torch_dist import RendezvousError, choose_backend, free_port, init_distributed, shutdown
from clusterkit.rank.validation import (InputError, load_rgb_image, require_colours, require_headerless_csv,
                                        require_rows_per_rank)

__all__ = [
    "IMAGE_FILE", "PALETTE_FILE", "RUN_FILE", "ImageDataset", "InputError", "RANK_ENV", "RendezvousError",
    "ccl_unavailable_reason", "choose_backend", "free_port", "init_distributed", "load_digits_dataset",
    "load_rgb_image", "partition_path", "require_colours", "require_headerless_csv", "require_horovod",
    "require_rows_per_rank", "runs_dir", "sample_image", "shard", "shutdown",
]
