"""Hostile input: the payload corpus and the scenario built from it (see payloads.py)."""
