"""The headless cluster service layer: connection, cache, view models, actions, metrics, audit."""
