"""A simulated edge cluster that speaks the Kubernetes REST API over HTTP."""
