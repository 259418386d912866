"""apikeys resource."""
