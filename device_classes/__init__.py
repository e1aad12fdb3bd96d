"""Tango device classes: BeaconChannels."""
