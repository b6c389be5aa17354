"""The company's own decisions to close an account: termination with notice, legal hold,
under-13 reports. See README.md beside this file."""
