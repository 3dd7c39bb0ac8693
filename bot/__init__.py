"""Outage Assistant: incident store, answers and tooling behind the Rasa bot."""
