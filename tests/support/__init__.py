"""The test rig: what only the tests and the benchmarks (scripts/) use to start throwaway
assistants and talk to them. Production code never imports it (tests/test_import_contract.py)."""
