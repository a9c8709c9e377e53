"""Where work runs: the CPUs this process may use, worker processes, torch's threads, the device.

One policy for every tool, so that seral behaves on a laptop, a shared server and a
SLURM node alike:

- **CPUs available** (:func:`available_cpus`): the CPUs this process may run on
  (``os.sched_getaffinity``; ``taskset``, cpusets and SLURM's binding set it), capped by
  the cgroup CPU quota (``cpu.max``, what ``docker --cpus`` sets) and by
  ``SLURM_CPUS_PER_TASK`` when set.
- **Worker processes** (``--workers 0``, :func:`cpu_workers`): one per CPU available.
- **torch threads** (``--threads 0``, :func:`torch_threads`): ``OMP_NUM_THREADS`` when
  set; else the CPUs available per worker process, lowered to the CPUs *idle* when the
  job starts (sampled from ``/proc/stat`` over 0.1 s). torch splits each operation
  over its threads and waits for the slowest: on a busy machine a thread that waits for
  a CPU holds up all the others at every operation, so two threads on two busy cores
  run many times slower than one. BLAS threads (numpy, scikit-learn) follow the
  same count.
- **Device** (``--device auto``, :func:`resolve_device`): CUDA when torch sees a GPU,
  else the CPU.

torch is optional (``pip install 'seraltools[torch]'``): :func:`require_torch` is the one
place that says what to install when a tool needs it.
"""

from __future__ import annotations

import contextlib
import os
import time

from seraltools.errors import EXTRAS, BadInput


def require_torch(what: str, extra: str = "torch"):
    """The ``torch`` module, or a one-line error saying that ``what`` needs it and which
    extra (``torch``, ``dvector``, ``ecapa``) to install."""
    try:
        import torch
    except ImportError:
        raise BadInput(f"{what} needs PyTorch, which is not installed: {EXTRAS[extra]}") from None
    return torch


def resolve_device(device: str, what: str = "this tool", extra: str = "torch") -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an error."""
    if device not in ("auto", "cpu", "cuda"):
        raise BadInput(f"--device {device!r}: choose auto, cpu or cuda")
    torch = require_torch(what, extra)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BadInput("--device cuda: torch sees no CUDA GPU here; use --device cpu or auto")
    return device


def _positive_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else None


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None


def _cgroup_quota(path: str = "/sys/fs/cgroup/cpu.max") -> float | None:
    """CPUs' worth of time the cgroup may use (cgroup v2 ``cpu.max``: "QUOTA PERIOD" or "max ...")."""
    try:
        with open(path) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """CPUs this process may use: affinity set, cgroup quota, ``SLURM_CPUS_PER_TASK``."""
    cpus = _affinity()
    n = len(cpus) if cpus else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    if quota:
        n = min(n, max(1, int(quota + 0.5)))
    slurm = _positive_int("SLURM_CPUS_PER_TASK")
    if slurm:
        n = min(n, slurm)
    return max(1, n)


def cpu_workers(n: int) -> int:
    """``--workers`` as a count: 0 means one per CPU available (:func:`available_cpus`)."""
    if n < 0:
        raise BadInput(f"--workers {n}: give 0 (one per CPU) or more")
    return n if n > 0 else available_cpus()


def _cpu_times(path: str = "/proc/stat") -> dict[int, tuple[int, int]]:
    """cpu index -> (idle ticks, total ticks) since boot."""
    times = {}
    with open(path) as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (values[3] + values[4], sum(values))
    return times


def idle_cpus(interval: float = 0.1) -> float | None:
    """How many of this process's CPUs were idle over the next ``interval`` seconds
    (Linux; ``None`` where ``/proc/stat`` cannot tell)."""
    try:
        before = _cpu_times()
        time.sleep(interval)
        after = _cpu_times()
    except (OSError, ValueError):
        return None
    mine = (_affinity() or set(after)) & set(before) & set(after)
    if not mine:  # the CPU numbering of /proc/stat is not this process's (e.g. lxcfs): cannot tell
        return None
    idle = 0.0
    for cpu in mine:
        d_idle = after[cpu][0] - before[cpu][0]
        d_total = after[cpu][1] - before[cpu][1]
        idle += d_idle / d_total if d_total > 0 else 1.0
    return idle


def torch_threads(threads: int = 0, workers: int = 1) -> int:
    """Intra-op threads for each of ``workers`` processes: ``threads`` when given (> 0),
    else ``OMP_NUM_THREADS`` when set, else the CPUs available per worker, lowered to
    the CPUs idle now (at least 1)."""
    if threads < 0:
        raise BadInput(f"--threads {threads}: give 0 (automatic) or more")
    if threads:
        return threads
    omp = _positive_int("OMP_NUM_THREADS")
    if omp:
        return omp
    share = max(1, available_cpus() // max(1, workers))
    if share == 1:
        return 1
    idle = idle_cpus()
    if idle is None:
        return share
    return max(1, min(share, int(idle / max(1, workers) + 0.5)))


def use_threads(n: int, *, torch: bool = False) -> int:
    """Run the BLAS libraries, and torch (``torch=True``, or when already imported), with
    ``n`` threads in this process. Returns ``n``."""
    import sys

    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    module = sys.modules.get("torch")
    if module is None and torch:
        module = require_torch("this tool")
    if module is not None:
        module.set_num_threads(n)
    return n


@contextlib.contextmanager
def limited_threads(n: int):
    """:func:`use_threads` for a block: the previous thread counts come back after it."""
    import sys

    from threadpoolctl import threadpool_limits

    module = sys.modules.get("torch")
    before = module.get_num_threads() if module is not None else None
    with threadpool_limits(n):
        if module is not None:
            module.set_num_threads(n)
        try:
            yield n
        finally:
            if module is not None:
                module.set_num_threads(before)


def prepare_torch(device: str, threads: int = 0, what: str = "this tool") -> str:
    """What every single-process torch tool does first: the device resolved
    (:func:`resolve_device`) and torch's threads set (:func:`torch_threads`)."""
    dev = resolve_device(device, what)
    use_threads(torch_threads(threads), torch=True)
    return dev


#: glibc's M_MMAP_THRESHOLD (mallopt), and the size above which seral's long-recording
#: work asks for allocations that go back to the system when freed.
_M_MMAP_THRESHOLD, LARGE_ALLOCATION = -3, 1 << 20
_large_allocations_returned = False


def return_large_frees() -> None:
    """Make freed blocks above LARGE_ALLOCATION go back to the system at once (glibc).

    By default glibc raises its mmap threshold after each large free, up to 32 MB, so
    the blocks a long recording is worked through in (STFT buffers, frames, LSTM
    batches) end up on the heap and resident memory grows with the recording's length
    (60-min d-vector: +560 MB over a 3-s file; with this, +140 MB). Called once per
    process, by work on long recordings only; a no-op where glibc is absent."""
    global _large_allocations_returned
    if _large_allocations_returned:
        return
    _large_allocations_returned = True
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, LARGE_ALLOCATION)
    except (OSError, AttributeError):
        pass



# --------------------------------------------------------------------------- process pools


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when its parent dies (SIGKILL, SIGTERM, SIGHUP
    or a crash), so no worker outlives the run blocked on a queue nobody reads."""
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: workers stop when their queue breaks
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_SHARED: dict[int, object] = {}  # in a process_map worker: the arguments every call shares


def _start_worker(parent: int, shared: dict, threads: int) -> None:
    import signal

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    _SHARED.clear()
    _SHARED.update(shared)
    use_threads(threads)


def _call(task: tuple):
    fn, n, own = task
    return fn(*(own[p] if p in own else _SHARED[p] for p in range(n)))


def process_map(fn, args: list[tuple], workers: int):
    """``fn(*a)`` for each ``a`` in ``workers`` local processes, yielded in order (in this
    process when ``workers`` <= 1 or there is one call). The pool's one policy, as
    extract's: workers are forked (the arguments every call shares -- the same object in
    each tuple, e.g. the feature matrix -- reach them once, inherited, never pickled per
    call), die with the parent (SIGKILL, SIGTERM or a crash of the parent leaves no
    orphan; a forked pool starts no resource tracker and leaves nothing in /dev/shm),
    ignore Ctrl-C (the parent stops them) and use the CPUs divided among them as BLAS
    threads, as joblib did before."""
    args = list(args)
    if workers <= 1 or len(args) <= 1:
        for a in args:
            yield fn(*a)
        return
    import multiprocessing

    workers = min(workers, len(args))
    shared = {p: v for p, v in enumerate(args[0]) if all(a[p] is v for a in args)}
    tasks = [(fn, len(a), {p: v for p, v in enumerate(a) if p not in shared}) for a in args]
    threads = max(1, available_cpus() // workers)
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker,
                                                    initargs=(os.getpid(), shared, threads))
    try:
        yield from pool.imap(_call, tasks)
        pool.close()
    except BaseException:  # Ctrl-C, an error in a call, or the caller stopped early
        pool.terminate()
        raise
    finally:
        pool.join()
