"""The upload fan-out: one short job splits a stored upload into one job per item.

An API process stores a user's upload in Redis and enqueues one job on the
``user-uploads`` queue. A worker runs it: it reads the upload and enqueues one
``update_user`` job per item on ``user-upload-items``, a queue with high concurrency
and a rate limit that holds across every worker. A failing item fails alone.

Run it (a throwaway server is started when REDIS_URL is not set)::

    python examples/upload_fanout.py --users 2000
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

import rediq
from rediq.cli import redis_url


def get_data_and_process_it(job: rediq.JobContext) -> int:
    """Split the stored upload into one job per user (the fan-out)."""
    raw = job.client.redis.lrange(job.data["upload_key"], 0, -1)
    if not raw:
        raise LookupError(f"upload not found for key {job.data['upload_key']!r}")
    items = job.client.queue("user-upload-items")
    items.enqueue_many(
        ("update_user", rediq.codec.decode(item), {"attempts": 3, "backoff": rediq.Backoff.exponential(0.1)})
        for item in raw
    )
    return len(raw)


def update_user(job: rediq.JobContext) -> dict[str, str]:
    """Apply one user's settings (here: write them to a Redis hash standing in for a DB)."""
    name, settings = job.data["name"], job.data["settings"]
    job.client.redis.hset(f"users:{name}", mapping=settings)
    return {"name": name, "status": "updated"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000, help="items in the upload")
    parser.add_argument("--rate", type=int, default=5000, help="item jobs started per second, at most")
    parser.add_argument("--concurrency", type=int, default=16, help="item jobs run at once")
    parser.add_argument("--url", help="Redis URL (default $REDIS_URL, else a throwaway server)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with redis_url(args.url) as url:
        client = rediq.Client.from_url(url)
        # The API side: store the upload, enqueue one short job, return at once.
        upload_key = "users:upload:1"
        client.redis.delete(upload_key)
        client.redis.rpush(upload_key, *(rediq.codec.encode(
            {"name": f"user{i}", "settings": {"theme": "dark", "lang": "en"}}) for i in range(args.users)))
        started = time.monotonic()
        job = client.queue("user-uploads").enqueue("get_data_and_process_it", {"upload_key": upload_key})

        # The worker farm side (here one worker in this process).
        worker = rediq.Worker(
            client,
            handlers={"get_data_and_process_it": get_data_and_process_it, "update_user": update_user},
            queues={
                "user-uploads": rediq.QueueConfig(concurrency=1),
                "user-upload-items": rediq.QueueConfig(
                    concurrency=args.concurrency, rate_limit=rediq.RateLimit(args.rate, 1.0)),
            },
        )
        thread = threading.Thread(target=worker.run, name="worker")
        thread.start()
        try:
            fanned_out = job.result(timeout=60)
            items = client.queue("user-upload-items")
            while True:
                counts = items.counts()
                if counts["completed"] + counts["failed"] >= fanned_out:
                    break
                if time.monotonic() - started > 600:
                    print("timed out waiting for the item jobs", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            worker.stop()
            thread.join()
        updated = sum(1 for i in range(args.users) if client.redis.exists(f"users:user{i}"))
        print(f"upload of {args.users} users: fan-out job made {fanned_out} item jobs; "
              f"{counts['completed']} completed, {counts['failed']} failed, {updated} users updated "
              f"in {elapsed:.2f} s ({fanned_out / elapsed:.0f} jobs/s, rate limit {args.rate}/s, "
              f"codec {rediq.codec.IMPLEMENTATION})")
        client.close()
        return 0 if updated == args.users and counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
