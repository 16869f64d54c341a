"""The admin API: wire-compatible with Appwrite's Functions executions endpoints."""
