"""Incident state from an Atlassian Statuspage: parse, map components, apply, poll, and a local demo page."""
