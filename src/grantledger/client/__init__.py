"""grantledger's Python client: the Togai client's interface, plus async, paging and retries.

Code written for `togai_client` runs with only its import changed:

    import grantledger.client as togai_client
    from grantledger.client.models.create_credit_request import CreateCreditRequest
    from grantledger.client.rest import ApiException

Only `httpx` and `pydantic` are needed; nothing of the server is imported.
"""

from grantledger import __version__
from grantledger.client import api, models, rest
from grantledger.client.api import *  # noqa: F403
from grantledger.client.api_client import ApiClient, AsyncApiClient
from grantledger.client.configuration import Configuration
from grantledger.client.exceptions import OpenApiException
from grantledger.client.models import *  # noqa: F403
from grantledger.client.rest import *  # noqa: F403

# The API classes, the exceptions and the models are listed once, where they are defined;
# this package re-exports each of those lists whole.
__all__ = [
    "ApiClient",
    "AsyncApiClient",
    "Configuration",
    "OpenApiException",
    "__version__",
]
__all__ += api.__all__
__all__ += rest.__all__
__all__ += models.__all__
