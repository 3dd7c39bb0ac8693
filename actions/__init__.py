"""Thin rasa-sdk actions. Each reads the tracker, calls plain functions in `bot`, and sends responses."""
