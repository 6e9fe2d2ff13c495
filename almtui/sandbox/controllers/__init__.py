"""Simulated controllers: each reconciles objects in the store the way its upstream counterpart does."""
