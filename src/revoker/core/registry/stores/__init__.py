"""Store backends, one module each, imported only when ``open_store`` is given their scheme.

Nothing is imported here on purpose: importing ``revoker.core.registry`` must not
load a driver (redis, psycopg, boto3) the deployment does not use.
"""
