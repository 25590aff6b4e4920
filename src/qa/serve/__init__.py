"""The HTTP API and the ask page (`qa serve`): the app, its models, errors, guards, batching and server."""
