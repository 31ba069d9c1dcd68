#!/usr/bin/env bash
# Serve JupyterLab on the learner's workspace (their own copy of the module folders and README.md, synced from
# the course first: clusterkit.learner.workspace): bound to 127.0.0.1, protected by a token, the course kernel
# selected. The file browser shows the course only, and no edit there changes a file git tracks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
# on a shared node another learner may already serve on the port: take the next free one, and say so
PORT=$("$PY" - "${1:-8888}" <<'PYTHON'
import socket, sys
wanted = int(sys.argv[1])
for port in range(wanted, wanted + 100):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            break
if port != wanted:
    print(f"port {wanted} is taken on this machine (another learner's JupyterLab?): using {port}", file=sys.stderr)
print(port)
PYTHON
)
KERNEL=$("$PY" -c "from clusterkit.course import KERNEL_NAME; print(KERNEL_NAME)")
# $CLUSTERKIT_WORKSPACE, else workspace/ in the course: copy in what the course has new, keep what the learner edited
WORKSPACE=$("$PY" -c "import sys; from clusterkit.learner.workspace import default_workspace
print(default_workspace(sys.argv[1]).resolve())" "$ROOT")
"$PY" -m clusterkit.learner.workspace sync --course "$ROOT" --workspace "$WORKSPACE"
TOKEN="${JUPYTER_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
echo "JupyterLab on the course: http://127.0.0.1:${PORT}/lab?token=${TOKEN}"
echo "(start with 01_parallelism/01_start_here.ipynb; stop with Ctrl-C)"
echo "Your files are in $WORKSPACE: they are yours to edit. \`make update\` brings course updates in and keeps your edits."
export PATH="$ROOT/.venv/bin:$PATH"
exec "$ROOT/.venv/bin/jupyter" lab --no-browser --ip=127.0.0.1 --port="$PORT" \
  --ServerApp.root_dir="$WORKSPACE" --IdentityProvider.token="$TOKEN" \
  --MappingKernelManager.default_kernel_name="$KERNEL" "${extra[@]}"
