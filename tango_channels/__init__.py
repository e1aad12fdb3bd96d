"""tango_channels: take part in BLISS channels without importing BLISS."""
