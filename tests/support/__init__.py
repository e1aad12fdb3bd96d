"""Helpers for the test suite: real Redis servers and peer processes."""
