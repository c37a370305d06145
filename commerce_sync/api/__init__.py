"""The partner API (REST, API-key auth), mounted at /api/v1/."""
