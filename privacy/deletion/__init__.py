"""Deletion that really deletes: a request's lifecycle, closing an account, the purge and
its billing ledger, the sweeper, the notices. See README.md beside this file."""
