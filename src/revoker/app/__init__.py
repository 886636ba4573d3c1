"""The application layer: one settings declaration, one composition root, one set of
operations that every transport (the service, the Lambda handlers, the CLI, the in-app
integrations) calls.
"""
