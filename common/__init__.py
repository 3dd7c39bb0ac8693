"""Code both Python environments import: the project's (.venv) and Rasa's (.venv-rasa). Standard library only."""
