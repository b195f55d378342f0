"""Plumbing every provider shares: the contract (contract.py), the registry, the HTTP client with its
token, limiter, retries and breaker, the paging strategies, and the base of HTTP API providers."""
