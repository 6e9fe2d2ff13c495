"""Pure Kubernetes rules shared by the sandbox and the client: no I/O, no state."""
