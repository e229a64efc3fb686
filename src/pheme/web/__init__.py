"""Server-rendered UI pages (owned by the UI work). ``register(app, server)`` adds its routes.

``pheme.api.create_app`` calls ``register(app, server)`` when this package defines it.
"""
