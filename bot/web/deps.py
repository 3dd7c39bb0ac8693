"""Parameter types the routers share."""

# No `from __future__ import annotations`: FastAPI reads these aliases at run time.
from typing import Annotated

from fastapi import Form, Path, Query

# Ids are 32-bit integers in PostgreSQL (and Rasa's events table); a larger number names no
# row, and SQLite cannot even bind one (OverflowError), so it is refused with 422 up front.
MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
RowIdQuery = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
RowIdForm = Annotated[int, Form(ge=1, le=MAX_ROW_ID)]
