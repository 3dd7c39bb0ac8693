"""Runs only inside Rasa's process, in .venv-rasa (SQLAlchemy < 1.5, pydantic < 1.10.10).

Nothing here imports `bot`: the NLU components, the sentence encoder, the REST input and channel
connectors, the tracker store and the runtime patches. Shared rules come from `common`.
"""
