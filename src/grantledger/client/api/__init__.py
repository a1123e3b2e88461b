"""The API classes; each works over an `ApiClient` or an `AsyncApiClient`."""

from grantledger.client.api.accounts_api import AccountsApi
from grantledger.client.api.credit_holds_api import CreditHoldsApi
from grantledger.client.api.credits_api import CreditsApi
from grantledger.client.api.customers_api import CustomersApi
from grantledger.client.api.entitlement_plans_api import EntitlementPlansApi
from grantledger.client.api.entitlements_api import EntitlementsApi
from grantledger.client.api.event_ingestion_api import EventIngestionApi
from grantledger.client.api.event_management_api import EventManagementApi
from grantledger.client.api.event_schemas_api import EventSchemasApi
from grantledger.client.api.feature_api import FeatureApi
from grantledger.client.api.feature_holds_api import FeatureHoldsApi

__all__ = [
    "AccountsApi",
    "CreditHoldsApi",
    "CreditsApi",
    "CustomersApi",
    "EntitlementPlansApi",
    "EntitlementsApi",
    "EventIngestionApi",
    "EventManagementApi",
    "EventSchemasApi",
    "FeatureApi",
    "FeatureHoldsApi",
]
