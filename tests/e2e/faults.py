"""Real faults for the end-to-end tests: a SQLite file that another process keeps locked."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# The holder asks the file which journal mode it is in (Rasa's tracker store starts in the
# rollback-journal mode; our own engines switch a file to WAL, and it stays so).
# - Rollback journal: an exclusive transaction keeps every other connection from reading.
# - WAL: readers are not blocked by transactions. A reader takes a shared lock on one of the
#   WAL-index bytes 120-127 of the `-shm` file (the write, checkpoint and recovery locks and
#   read marks 0-4), so the holder keeps a connection open (which keeps `-shm` in place)
#   and takes those bytes itself, as a stuck process holding SQLite's locks would.
HOLDER = """
import fcntl, os, sqlite3, sys, time
path = sys.argv[1]
c = sqlite3.connect(path, isolation_level=None, timeout=30)
mode = c.execute("PRAGMA journal_mode").fetchone()[0]
if mode == "wal":
    c.execute("SELECT count(*) FROM sqlite_master").fetchall()
    fd = os.open(path + "-shm", os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX, 8, 120, os.SEEK_SET)
else:
    c.execute("BEGIN EXCLUSIVE")
print("locked", mode, flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process holds the file's locks: nobody else can read it until this ends."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().startswith(b"locked")
        yield
    finally:
        holder.kill()
        holder.wait()
