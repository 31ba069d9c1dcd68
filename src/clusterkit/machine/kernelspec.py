"""Install the course's Jupyter kernel into this environment (sys.prefix/share/jupyter/kernels).

The kernel runs this environment's Python with its bin/ first on PATH, so `!mpirun` in a notebook
is the course's Intel MPI, and with FI_PROVIDER_PATH set for libfabric's network providers.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from clusterkit.course import KERNEL_DISPLAY_NAME, KERNEL_NAME
from clusterkit.machine.environment import ENV_BIN, ENV_LIB, ENV_PREFIX


def kernel_spec() -> dict:
    return {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "env": {
            "PATH": f"{ENV_BIN}:${{PATH}}",
            "FI_PROVIDER_PATH": str(ENV_LIB),
            "I_MPI_ROOT": str(ENV_PREFIX),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
        "metadata": {"debugger": True},
    }


def install_kernel(prefix: Path = ENV_PREFIX) -> Path:
    folder = prefix / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    return folder


if __name__ == "__main__":
    print(f"kernel '{KERNEL_NAME}' ({KERNEL_DISPLAY_NAME}) installed in {install_kernel()}")
