"""Webhook infrastructure with no knowledge of billing: Standard Webhooks signatures, secrets encrypted at
rest, the retry policy, and an HTTP transport that refuses private addresses."""
