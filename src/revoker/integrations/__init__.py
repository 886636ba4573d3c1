"""In-app integrations: check tokens inside a Starlette, FastAPI, Flask or Django app.

One module per framework, each installed with its extra and imported only when
used: ``revoker.integrations.starlette`` and ``revoker.integrations.fastapi``
(``revoker[fastapi]``), ``revoker.integrations.flask`` (``revoker[flask]``) and
``revoker.integrations.django`` (``revoker[django]``; DRF when installed). Every
one hands views the same ``Principal`` and answers refusals the same way
(``revoker.integrations.guard``). Importing this package loads no web framework.
"""

from __future__ import annotations

from revoker.integrations.principal import Principal

__all__ = ["Principal"]
