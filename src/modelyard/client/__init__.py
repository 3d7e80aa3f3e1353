"""Call models served by modelyard (or any Open Inference Protocol V2 server): by alias, balanced, with retries."""

from modelyard.client.client import AsyncClient, Client
from modelyard.client.policy import RetryPolicy
from modelyard.client.tls import Tls
from modelyard.protocol.calls import Result

__all__ = ["AsyncClient", "Client", "Result", "RetryPolicy", "Tls"]
