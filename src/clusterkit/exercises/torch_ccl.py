"""Exercise checks of module 04_torch_ccl (PyTorch distributed on CPUs).

The per-rank plumbing its scripts share (init_distributed, shutdown) is in `clusterkit.torch_dist`.
"""
from __future__ import annotations

from ..checks import Hint, exercise_check


@exercise_check("Map Intel MPI's variables to torch.distributed's")
def check_env_mapping(torch_env_from_pmi):
    """01: torch_env_from_pmi(environ) -> {'RANK', 'WORLD_SIZE', 'LOCAL_RANK'} as strings."""
    # rank 3 of 4, the second rank on its node: every value differs, so a swap shows
    environ = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "OMP_NUM_THREADS": "1"}
    result = torch_env_from_pmi(dict(environ))
    if not isinstance(result, dict):
        raise Hint(f"return a dict of environment variables, not {type(result).__name__}")
    wanted = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    missing = [name for name in wanted if name not in result]
    if missing:
        raise Hint(f"the dict has no {', '.join(missing)}: torch.distributed reads RANK, WORLD_SIZE "
                   "(and torchrun-style code LOCAL_RANK)")
    not_text = [name for name in wanted if not isinstance(result[name], str)]
    if not_text:
        raise Hint(f"{', '.join(not_text)} must be strings: environment variables hold text (use str())")
    if result["RANK"] == "1":
        raise Hint("RANK came from MPI_LOCALRANKID, the rank within one node; the global rank is PMI_RANK")
    if result["LOCAL_RANK"] == "3":
        raise Hint("LOCAL_RANK came from PMI_RANK, the global rank; the rank within the node is MPI_LOCALRANKID")
    if result["WORLD_SIZE"] == "3":
        raise Hint("WORLD_SIZE is the number of ranks (PMI_SIZE), not the highest rank")
    if any(result[name] != value for name, value in wanted.items()):
        raise Hint(f"for PMI_RANK=3, PMI_SIZE=4, MPI_LOCALRANKID=1 you returned {result}; expected {wanted}")


@exercise_check("What reduce-scatter leaves on each rank")
def check_reduce_scatter(expected_reduce_scatter):
    """02: expected_reduce_scatter(inputs, rank) -> the chunk `rank` holds after reduce_scatter(SUM)."""
    import numpy as np

    inputs = [np.arange(6.0) * (r + 1) + 10 * r for r in range(3)]  # 3 ranks, 6 numbers each
    total = np.sum(inputs, axis=0)
    for rank in range(3):
        got = np.asarray(expected_reduce_scatter([x.copy() for x in inputs], rank), dtype=float)
        right = total[2 * rank:2 * rank + 2]
        if got.shape == total.shape:
            raise Hint("you returned the whole summed vector: that is all_reduce. reduce_scatter leaves "
                       "each rank only its own 1/world_size chunk of the sum")
        if got.shape != right.shape:
            raise Hint(f"rank {rank} of 3 with 6 numbers each must get {right.shape[0]} numbers "
                       f"(6 / 3), you returned shape {got.shape}")
        if np.allclose(got, inputs[rank][2 * rank:2 * rank + 2]):
            raise Hint(f"rank {rank} got its own chunk unsummed: reduce_scatter adds the chunk from every rank")
        if not np.allclose(got, right):
            other = [r for r in range(3) if np.allclose(got, total[2 * r:2 * r + 2])]
            if other:
                raise Hint(f"rank {rank} got chunk {other[0]}: rank r receives chunk number r")
            raise Hint(f"rank {rank}: expected {right.tolist()}, you returned {got.tolist()}")


@exercise_check("Load the rank-0 checkpoint into a fresh model")
def check_checkpoint_model(model, checkpoint):
    """03: `model` is a fresh SmallCNN with the checkpoint's weights, ready to evaluate."""
    import torch

    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        raise Hint("evaluate a plain model: DDP needs a process group, and a checkpoint is for any process")
    if not isinstance(model, torch.nn.Module):
        raise Hint(f"return the model (an nn.Module), not {type(model).__name__}")
    saved = checkpoint["model"]
    state = model.state_dict()
    if set(state) != set(saved):
        raise Hint(f"the parameter names differ: model has {sorted(state)[:2]}..., checkpoint has "
                   f"{sorted(saved)[:2]}...; a 'module.' prefix means a DDP wrapper's state_dict")
    differing = [name for name in saved if not torch.equal(state[name], saved[name])]
    if differing:
        raise Hint(f"{len(differing)} tensors (e.g. {differing[0]}) differ from the checkpoint: call "
                   "model.load_state_dict(checkpoint['model'])")
    if model.training:
        raise Hint("switch the model to evaluation mode (model.eval()) before measuring accuracy")


# ranks x threads layouts the check tries, fixed whatever machine it runs on: one core (1 x 1), two cores,
# and the workshop's node of 2 sockets x 28 cores
LAYOUTS = ((1, 1), (1, 2), (2, 1), (2, 28), (4, 14), (56, 1))


@exercise_check("Environment for a ranks x threads layout")
def check_layout_env(layout_env):
    """04: layout_env(ranks, threads) -> genv dict giving each rank `threads` cores of its own."""
    for ranks, threads in LAYOUTS:
        env = layout_env(ranks, threads)
        if not isinstance(env, dict):
            raise Hint(f"return a dict of variables for mpirun's -genv, not {type(env).__name__}")
        if str(env.get("OMP_NUM_THREADS")) != str(threads):
            raise Hint(f"for {ranks} rank(s) x {threads} thread(s) OMP_NUM_THREADS must be {threads}, "
                       f"you set {env.get('OMP_NUM_THREADS')!r}: without it every rank starts one thread per core")
        domain = str(env.get("I_MPI_PIN_DOMAIN", ""))
        if domain in ("", "core", "1") and threads > 1:
            raise Hint(f"I_MPI_PIN_DOMAIN={domain or 'unset'} gives a rank one core, so its {threads} threads "
                       "share it; 'omp' sizes each rank's domain by OMP_NUM_THREADS")
        if domain not in ("omp", str(threads)) and not (domain == "core" and threads == 1):
            raise Hint(f"I_MPI_PIN_DOMAIN={domain!r}: use 'omp' (domain size = OMP_NUM_THREADS) or "
                       f"the number {threads}")


@exercise_check("Compress a gradient to bfloat16")
def check_bf16_compress(compress):
    """05: compress(grad) -> bfloat16 tensor of the same shape (what bf16_compress_hook sends)."""
    import torch

    grad = torch.tensor([1.0e6, -3.0e-30, 0.1, 1.0 + 2 ** -10])
    sent = compress(grad.clone())
    if not isinstance(sent, torch.Tensor):
        raise Hint(f"return a tensor, not {type(sent).__name__}")
    if sent.dtype == torch.float16:
        raise Hint("that is float16: 1e6 overflows to inf and 3e-30 underflows to 0 (5 exponent bits); "
                   "bfloat16 keeps float32's 8 exponent bits: use grad.to(torch.bfloat16)")
    if sent.dtype != torch.bfloat16:
        raise Hint(f"the tensor is {sent.dtype}; a bf16 hook sends torch.bfloat16 (2 bytes per number)")
    if sent.shape != grad.shape:
        raise Hint(f"keep the shape {tuple(grad.shape)}; you returned {tuple(sent.shape)}")
    relative = ((sent.float() - grad).abs() / grad.abs()).max().item()
    if relative > 2 ** -8:
        raise Hint(f"the round trip is off by {relative:.2g} (relative); bfloat16 rounds to 8 significant "
                   "bits, so at most 2**-8: convert the values, don't rescale them")


@exercise_check("Allreduce bandwidth from a message size and a time")
def check_bus_bandwidth(bus_bandwidth):
    """06: bus_bandwidth(nbytes, seconds, world_size) -> GB/s as nccl-tests define 'busbw'."""
    cases = ((8 * 2 ** 20, 0.004, 2), (2 ** 20, 0.001, 4))
    for nbytes, seconds, size in cases:
        got = bus_bandwidth(nbytes, seconds, size)
        algbw = nbytes / seconds / 1e9
        right = algbw * 2 * (size - 1) / size
        if abs(got - right) <= 1e-9 * right:
            continue
        if abs(got - algbw) <= 1e-9 * algbw:
            raise Hint("that is the algorithm bandwidth (bytes / time); an allreduce moves each byte "
                       "2(n-1)/n times, so multiply by 2 * (world_size - 1) / world_size")
        if abs(got - 8 * right) <= 1e-9 * right:
            raise Hint("you computed gigabits: report gigabytes (don't multiply by 8)")
        if abs(got - right * 1e9) <= 1e-3 * right * 1e9:
            raise Hint("the result is in bytes/s: divide by 1e9 for GB/s")
        if abs(got * 1e3 - right) <= 1e-6 * right or abs(got - right * 1e3) <= 1e-6 * right * 1e3:
            raise Hint("seconds, not milliseconds: the time is given in seconds")
        raise Hint(f"for {nbytes} bytes in {seconds} s on {size} ranks: expected {right:.4g} GB/s, got {got!r}")
