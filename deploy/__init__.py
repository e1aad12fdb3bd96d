"""Deployment helpers: quick start, Tango database registration, launchers."""
