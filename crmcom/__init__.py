"""A pure-Python client of the CRM.COM Rewards Web API v2 (no Odoo imports)."""

from .client import POOL_SIZE, CallRecord, CrmcomClient, normalise_base_url, shared_session
from .errors import (
    CrmcomAnswerError,
    CrmcomApiError,
    CrmcomAuthenticationError,
    CrmcomConfigurationError,
    CrmcomConnectionError,
    CrmcomError,
    CrmcomProtocolError,
    CrmcomTimeoutError,
    CrmcomTransportError,
)
from .payloads import (
    Purchase,
    PurchaseLine,
    access_token_identifier,
    accounts_receivable_identifier,
    customer_event_identifier,
    product_identifier,
    rewards_participant_identifier,
    unit_identifier,
)
from .readers import (
    BACK_END_REDUCTION,
    FRONT_END_REDUCTION,
    read_participant,
    read_preview,
    read_purchase,
    read_spend_request,
)
from .tokens import TokenCache, default_token_cache

__all__ = [
    "BACK_END_REDUCTION",
    "FRONT_END_REDUCTION",
    "POOL_SIZE",
    "CallRecord",
    "CrmcomAnswerError",
    "CrmcomApiError",
    "CrmcomAuthenticationError",
    "CrmcomClient",
    "CrmcomConfigurationError",
    "CrmcomConnectionError",
    "CrmcomError",
    "CrmcomProtocolError",
    "CrmcomTimeoutError",
    "CrmcomTransportError",
    "Purchase",
    "PurchaseLine",
    "TokenCache",
    "access_token_identifier",
    "accounts_receivable_identifier",
    "customer_event_identifier",
    "default_token_cache",
    "normalise_base_url",
    "product_identifier",
    "read_participant",
    "read_preview",
    "read_purchase",
    "read_spend_request",
    "rewards_participant_identifier",
    "shared_session",
    "unit_identifier",
]
