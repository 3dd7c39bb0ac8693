"""Real faults for the end-to-end tests: a SQLite file that another process keeps locked."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# In WAL mode a reader takes a shared lock on one of the WAL-index bytes 120-127 of the
# `-shm` file (the write, checkpoint and recovery locks and read marks 0-4). `BEGIN
# EXCLUSIVE` cannot be had while other servers keep pooled connections open, so the holder
# takes those bytes itself, as a stuck process holding SQLite's locks would.
WAL_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "-shm", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 8, 120, os.SEEK_SET)
print("locked", flush=True); time.sleep(600)
"""
# In rollback-journal mode (Rasa's own SQLite tracker store) an exclusive transaction keeps
# every other connection from reading.
JOURNAL_HOLDER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True); time.sleep(600)
"""


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process holds the file's locks: nobody else can read it until this ends."""
    script = WAL_HOLDER if Path(f"{path}-shm").exists() else JOURNAL_HOLDER
    holder = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
        yield
    finally:
        holder.kill()
        holder.wait()
