"""Processes and tools: the launcher and its supervisor, the action server, the command line, the terminal chat."""
