"""Helpers shared by the test packages that are not fixtures: clients signed in, the
gateway's client, admin and browser steps, worker runs.

conftest.py files hold fixtures and pytest hooks only, and no test module imports
another test package's modules or a test_*.py module (tests/portal/test_test_layout.py):
what two modules share lives here, under tests/factories/ (data) or in the top-level
modules tests/wallets.py, tests/mfa.py and tests/worker_process.py.
"""
