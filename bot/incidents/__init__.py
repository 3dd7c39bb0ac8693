"""The incident state: its writes (each with its audit row), its reads, demo scenarios, status-page sync."""
