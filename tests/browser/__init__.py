"""End to end: a served process, driven by Chromium (marker ``browser``)."""
