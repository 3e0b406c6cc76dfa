"""The machine's own bcrypt rate: `python bench/hashrate.py --rounds 10 --threads 2 --seconds 10`.

Run by the harness as a process of its own, with no server up, so the figure
is what the cores can do, the ceiling for logins and sign-ups. Prints one JSON line.
"""

import argparse
import json
import threading
import time

import bcrypt

PASSWORD = b"a-benchmark-password-42"
# A bound on the loop besides time: far above what any core does in a run.
MAX_HASHES_PER_THREAD = 1_000_000


def hash_until(deadline: float, rounds: int, counts: list[int], slot: int) -> None:
    for _ in range(MAX_HASHES_PER_THREAD):
        if time.monotonic() >= deadline:
            return
        # hashpw releases the GIL, so threads hash in parallel as the service's pool does.
        bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds))
        counts[slot] += 1


def measure(rounds: int, threads: int, seconds: float) -> dict[str, float]:
    counts = [0] * threads
    started = time.monotonic()
    deadline = started + seconds
    workers = [
        threading.Thread(target=hash_until, args=(deadline, rounds, counts, slot))
        for slot in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # Until the last hash finished, which may be a little past the deadline.
    elapsed = time.monotonic() - started
    return {"hashes": sum(counts), "seconds": elapsed, "rate": sum(counts) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args()
    print(json.dumps(measure(options.rounds, options.threads, options.seconds)))


if __name__ == "__main__":
    main()
