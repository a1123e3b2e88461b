"""The admin console: server-rendered pages over the same service layer as the API.

Mounted at `/console` by the application factory (see `routes.install`).
"""
