"""almtui: application lifecycle management console for edge Kubernetes."""

__version__ = "0.1.0"
