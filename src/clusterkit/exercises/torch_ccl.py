"""Exercise checks of module 04_torch_ccl (PyTorch distributed on CPUs).

The per-rank plumbing its scripts share (init_distributed, shutdown) is in `clusterkit.rank.torch_dist`.
"""
from __future__ import annotations

from clusterkit.exercises.checks import Hint, exercise_check


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


def _same_everywhere(answers, formula, rtol=1e-9):
    """Whether the learner's answers {case: value} equal formula(*case) on every case (a typical mistake's formula)."""
    def close(got, want):
        return isinstance(got, (int, float)) and abs(got - want) <= rtol * max(abs(want), 1)

    return all(close(got, formula(*case)) for case, got in answers.items())


def _first_wrong(answers, formula) -> str:
    """'for <case>: expected <right>, you returned <got>' for the first case the learner got wrong."""
    case, got = next((case, got) for case, got in answers.items() if not _same_everywhere({case: got}, formula))
    return f"for {case} expected {formula(*case):g}, you returned {got!r}"


RING_CASES = [(rank, step, size) for size in (2, 3, 4, 5) for rank in range(size) for step in range(2 * (size - 1))]


@exercise_check("The ring's schedule: which chunk rank r sends at step k")
def check_ring_schedule(chunk_sent):
    """07: chunk_sent(rank, step, size) -> the chunk index rank sends to rank+1 at step (0 .. 2(size-1)-1)."""
    answers = {case: chunk_sent(*case) for case in RING_CASES}
    wrong = {case: got for case, got in answers.items() if got != (case[0] - case[1]) % case[2]}
    if not wrong:
        return
    (rank, step, size), got = next(iter(wrong.items()))
    if not isinstance(got, int):
        raise Hint(f"return a chunk index (an int from 0 to size-1), not {type(got).__name__}")
    if _same_everywhere(answers, lambda r, k, n: (r + k) % n):
        raise Hint("the chunks travel the wrong way round: rank r sends to r+1 and receives from r-1, so at each "
                   "step it passes on the chunk it received from r-1, whose index is one lower: (rank - step) % size")
    if _same_everywhere(answers, lambda r, k, n: (r - k - 1) % n):
        raise Hint("that is the chunk a rank receives at each step (its left neighbour's); it sends the one it "
                   "received at the step before: (rank - step) % size")
    if _same_everywhere(answers, lambda r, k, n: r - k):
        raise Hint(f"rank {rank}, step {step} of {size} ranks: {got} is no chunk index; wrap around the ring "
                   "with % size")
    if _same_everywhere(answers, lambda r, k, n: k % n) or _same_everywhere(answers, lambda r, k, n: r):
        raise Hint("every rank must send a different chunk at each step, and a rank's chunk must change from step "
                   "to step: the index depends on both rank and step")
    raise Hint(f"rank {rank}, step {step}, {size} ranks: expected chunk {(rank - step) % size}, you returned {got}")


BYTES_CASES = [(4096, 2), (2 ** 20, 4), (6000, 3), (12, 1)]


@exercise_check("Bytes each rank sends: ring vs parameter server")
def check_bytes_per_rank(ring_bytes, server_bytes):
    """07: ring_bytes(nbytes, n) -> bytes a rank sends in a ring allreduce; server_bytes(nbytes, n) -> bytes
    rank 0 sends when it gathers every worker's tensor and sends each the sum."""
    ring = {case: ring_bytes(*case) for case in BYTES_CASES}
    if not _same_everywhere(ring, lambda b, n: 2 * (n - 1) * b / n):
        if _same_everywhere(ring, lambda b, n: (n - 1) * b / n):
            raise Hint("that is only the reduce-scatter; the allgather sends as much again: 2(n-1)/n")
        if _same_everywhere(ring, lambda b, n: 2 * (n - 1) * b):
            raise Hint("each of the 2(n-1) steps sends one chunk, 1/n of the tensor, not all of it")
        if _same_everywhere(ring, lambda b, n: 2 * b):
            raise Hint("a rank sends 2(n-1) chunks of nbytes/n each: you forgot the (n-1)/n")
        raise Hint(f"ring: {_first_wrong(ring, lambda b, n: 2 * (n - 1) * b / n)}")
    server = {case: server_bytes(*case) for case in BYTES_CASES}
    if not _same_everywhere(server, lambda b, n: (n - 1) * b):
        if _same_everywhere(server, lambda b, n: b):
            raise Hint("the server sends the whole sum to every worker, one copy each: (n-1) x nbytes")
        if _same_everywhere(server, lambda b, n: n * b):
            raise Hint("rank 0 is the server: it sends to the n-1 workers, not to itself")
        if _same_everywhere(server, lambda b, n: 2 * (n - 1) * b):
            raise Hint("count what rank 0 sends, not what it receives too: it receives (n-1) x nbytes as well")
        raise Hint(f"server: {_first_wrong(server, lambda b, n: (n - 1) * b)}")


@exercise_check("Data or model parallelism, from measured volumes")
def check_choose_strategy(choose_strategy):
    """08: choose_strategy(weights, activations_per_image, batch, fits_in_memory) -> "data" or "model"."""
    cases = (  # weights, activations per image, batch, fits, answer, what the case is
        (50_240, 64, 64, True, "model", "a dense layer: 50,240 weights against 64 x 64 = 4,096 activations"),
        (80, 6_272, 64, True, "data", "a small convolution: 80 weights against 6,272 x 64 activations"),
        (50_240, 64, 1024, True, "data", "the same dense layer with a batch of 1024: 65,536 activations"),
        (700, 100, 8, True, "data", "700 weights against 100 x 8 = 800 activations"),
        (80, 6_272, 64, False, "model", "a layer too big for one rank's memory"),
    )
    for weights, activations, batch, fits, right, what in cases:
        got = choose_strategy(weights, activations, batch, fits)
        if got not in ("data", "model"):
            raise Hint(f"return the string 'data' or 'model', not {got!r}")
        if got == right:
            continue
        if not fits:
            raise Hint("when the layer does not fit in one rank's memory, there is no choice: split it ('model'), "
                       "whatever the volumes say")
        if weights > activations and weights < activations * batch:
            raise Hint(f"{what}: activations are per image, and a step moves those of the whole batch; "
                       "compare weights with activations_per_image * batch")
        raise Hint(f"{what}: data parallelism moves the gradients (as many as the weights) each step, model "
                   "parallelism the activations; pick the strategy that moves less: 'model' when the weights "
                   f"outweigh the batch's activations. You returned {got!r}")


@exercise_check("What a restart needs: the training state to commit")
def check_training_state(training_state, resume):
    """09: training_state(model, optimizer, steps_done) -> the dict `resume(state, model, optimizer)` reads back.

    The check trains a small model with SGD and momentum for 6 steps without a break, and again with a restart
    after step 3: the state saved (through torch.save and torch.load, as a commit does) and resumed into a fresh
    model and optimizer. Both runs must end with the same weights."""
    import io

    import torch
    from torch import nn

    inputs = torch.linspace(-1, 1, 24).reshape(12, 2)
    targets = inputs.sum(1, keepdim=True) ** 2

    def fresh(seed: int):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def train(model, optimizer, steps):
        for step in steps:
            optimizer.zero_grad()
            rows = slice(step % 3 * 4, step % 3 * 4 + 4)  # the batch follows from the step number
            nn.functional.mse_loss(model(inputs[rows]), targets[rows]).backward()
            optimizer.step()

    unbroken, unbroken_optimizer = fresh(0)
    train(unbroken, unbroken_optimizer, range(6))

    first, first_optimizer = fresh(0)
    train(first, first_optimizer, range(3))
    state = training_state(first, first_optimizer, 3)
    if not isinstance(state, dict):
        raise Hint(f"return a dict (what torch.save writes and resume() reads), not {type(state).__name__}")
    missing = [key for key in ("model", "optimizer", "steps_done") if key not in state]
    if missing:
        raise Hint(f"the dict has no {', '.join(repr(key) for key in missing)}: resume() reads state['model'], "
                   "state['optimizer'] and state['steps_done']")
    if isinstance(state["model"], nn.Module) or isinstance(state["optimizer"], torch.optim.Optimizer):
        raise Hint("save model.state_dict() and optimizer.state_dict(): the tensors and numbers, not the objects "
                   "(a pickled object needs its class, unchanged, to load, and load_state_dict() takes a dict)")
    buffer = io.BytesIO()
    torch.save(state, buffer)  # what a commit writes, read back as the restarted worker reads it
    buffer.seek(0)
    committed = torch.load(buffer)
    second, second_optimizer = fresh(1)  # another process: its own, different initial weights
    steps_done = resume(committed, second, second_optimizer)
    if steps_done != 3:
        raise Hint(f"after 3 steps the state says steps_done={steps_done!r}: the restart would "
                   + ("repeat a step" if steps_done == 2 else "skip a step" if steps_done == 4 else "start elsewhere")
                   + "; save the number of steps done (steps_done): the restart goes on with the step after them")
    if not committed["optimizer"].get("state"):
        raise Hint("the optimizer's state is empty: save optimizer.state_dict() after the steps, it holds the "
                   "momentum buffers")
    train(second, second_optimizer, range(3, 6))
    difference = max((a - b).abs().max().item() for a, b in zip(unbroken.parameters(), second.parameters()))
    if difference > 1e-6:
        raise Hint(f"after the restart the weights differ from the unbroken run's by {difference:.2g}: save the "
                   "optimizer's state_dict() too (SGD's momentum is state beyond the weights), taken after the step")


@exercise_check("torchrun's elastic flags for a job that may lose nodes")
def check_elastic_flags(elastic_flags):
    """09: elastic_flags(nodes, may_lose, failures) -> ["--nnodes=MIN:MAX", "--max-restarts=N"] for a job started
    on `nodes` nodes that must go on after losing up to `may_lose` of them, through up to `failures` failures."""
    cases = ((2, 1, 1), (8, 3, 5), (4, 0, 2), (16, 4, 4))
    for nodes, may_lose, failures in cases:
        flags = elastic_flags(nodes, may_lose, failures)
        if not isinstance(flags, (list, tuple)) or not all(isinstance(flag, str) for flag in flags):
            raise Hint(f"return a list of two strings, e.g. ['--nnodes=1:2', '--max-restarts=1'], not {flags!r}")
        given = dict(flag.split("=", 1) for flag in flags if "=" in flag)
        nnodes, restarts = given.get("--nnodes"), given.get("--max-restarts")
        if nnodes is None or restarts is None:
            raise Hint(f"give both --nnodes=MIN:MAX and --max-restarts=N (written with '='), you returned {flags!r}")
        least, most = nodes - may_lose, nodes
        if nnodes == f"{most}:{least}" and least != most:
            raise Hint(f"--nnodes is MIN:MAX, the smallest number first: {least}:{most} for {nodes} nodes that may "
                       f"lose {may_lose}")
        if nnodes not in (f"{least}:{most}", *([str(most)] if least == most else [])):
            raise Hint(f"{nodes} nodes that may lose {may_lose} of them: the job starts with at most {most} and must "
                       f"go on with as few as {least}, so --nnodes={least}:{most}; you wrote --nnodes={nnodes}")
        if restarts == str(may_lose) and may_lose != failures:
            raise Hint("--max-restarts counts failures (each one makes every surviving agent restart its workers "
                       "once), not nodes: give the number of failures to ride out")
        if restarts != str(failures):
            raise Hint(f"to ride out {failures} failure(s) every agent needs {failures} restart(s): "
                       f"--max-restarts={failures}; you wrote --max-restarts={restarts}")
