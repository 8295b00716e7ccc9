"""The Redis lease that makes exactly one process the active one (scheduler, local runtime).

It is redis-py's :class:`redis.lock.Lock` (``SET NX PX`` to take it; renew with ``reacquire``
and release through token-checked Lua scripts, so a paused former holder can never extend or
delete a successor's lease), set up as a lease:

* ``timeout``: the lease lifetime; the holder renews it every round with ``reacquire``
  (back to the full lifetime, unlike ``extend``, which adds time and would let a holder
  that renews often pile up a lease far longer than its lifetime);
* ``thread_local=False``: the token belongs to the process, not to one thread (the scheduler
  renews in its main loop and re-checks in its watcher thread; the runtime takes the lease
  at start-up and renews it in its lease thread);
* ``blocking=False``: a standby asks once per round instead of waiting inside ``acquire``.

:meth:`Lease.renew` turns redis-py's LockNotOwnedError (expired, deleted, taken by another)
into ``False``; Redis errors still raise, so a caller can tell "lost" from "cannot tell".
"""

from __future__ import annotations

import os
import socket
import uuid

import redis
from redis.exceptions import LockError
from redis.lock import Lock


class Lease(Lock):
    """A renewable, token-guarded lease on one Redis key (a non-blocking redis-py Lock)."""

    def __init__(self, client: redis.Redis, name: str, ttl_s: float, *, owner: str = "lease"):
        super().__init__(client, name, timeout=ttl_s, blocking=False, thread_local=False)
        self.owner = owner

    def renew(self) -> bool:
        """Reset our lease to its full lifetime; False when it is not (or no longer) ours."""
        if self.local.token is None:
            return False
        try:
            return self.reacquire()
        except LockError:  # LockNotOwnedError: expired, deleted or taken by another
            self.local.token = None
            return False

    def take(self) -> bool:
        """Renew the lease while it is ours, else take it if it is free (it expired, or Redis
        restarted empty); False when another process holds it."""
        if self.renew():
            return True
        token = f"{self.owner}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        return self.acquire(token=token)

    def give_up(self) -> None:
        """Release the lease if it is still ours (a lease already lost is not an error)."""
        try:
            self.release()
        except LockError:
            pass
